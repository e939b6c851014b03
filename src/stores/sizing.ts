/**
 * Capacity arithmetic behind `featurestream size`. Redis: sampled bytes per entity x active
 * entities x 1.3 (allocator and dict overhead, the seed's rule). DynamoDB on-demand units:
 * a read is 0.5 RCU per started 4 KB (eventually consistent), a write 1 WCU per started 1 KB.
 */
export const REDIS_OVERHEAD = 1.3;

export interface SizingInput {
  /** Mean MEMORY USAGE of one entity's keys (vector hashes + state hash), bytes. */
  bytesPerEntity: number;
  activeEntities: number;
  /** Mean DynamoDB item size, bytes (vector attributes + state). */
  itemBytes: number;
  /** Reader lookups per second that reach DynamoDB (fallback or read-through). */
  readsPerSec: number;
  /** Vector writes per second (entities written by the worker's sync). */
  writesPerSec: number;
}

export interface SizingEstimate {
  redisBytes: number;
  rcuPerSec: number;
  wcuPerSec: number;
}

export function estimateCapacity(i: SizingInput): SizingEstimate {
  const rcuPerRead = 0.5 * Math.max(1, Math.ceil(i.itemBytes / 4096));
  const wcuPerWrite = Math.max(1, Math.ceil(i.itemBytes / 1024));
  return {
    redisBytes: Math.ceil(i.bytesPerEntity * i.activeEntities * REDIS_OVERHEAD),
    rcuPerSec: i.readsPerSec * rcuPerRead,
    wcuPerSec: i.writesPerSec * wcuPerWrite,
  };
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}
