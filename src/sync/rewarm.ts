/**
 * Rebuilds Redis from DynamoDB after Redis lost data: a parallel Scan of the
 * table, and for each live item of the keyspace version the vector hashes,
 * the state hash (with its replay fence) and the timer the worker would have
 * set. Each entity is written by one Lua call that refuses to overwrite the
 * same or a newer version, so rewarm can run while workers write, and can be
 * re-run after an interruption.
 */
import { ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { FeatureValue } from '../schemas/registry.ts';
import { itemToVector } from '../stores/dynamo-item.ts';
import { timerMember } from '../stores/entity-state.ts';
import { DYNAMO_PARTITION_KEY, type EntityRef, type Keys } from '../stores/keys.ts';
import type { RedisClient } from '../stores/redis.ts';
import type { WindowEngine } from '../aggregations/engine.ts';
import { itemOffsets } from './item.ts';
import { syncMetrics } from './metrics.ts';
import { perEntity } from './pipeline.ts';
import { RateLimiter } from './rate-limit.ts';
import { loadSyncScripts, queueSyncScript } from './scripts.ts';
import type { SyncLayout } from './snapshot.ts';
import type { GroupLayout } from '../consumers/entity-layout.ts';

export interface RewarmOptions {
  redis: RedisClient;
  dynamo: DynamoDBClient;
  table: string;
  keys: Keys;
  layout: SyncLayout;
  engine: Pick<WindowEngine, 'deserialize' | 'nextChangeAt'>;
  keyspaceVersion: number;
  /** Parallel Scan segments. */
  segments?: number;
  /** Items restored per second at most (all segments together); Infinity = unpaced. */
  ratePerSec?: number;
  /** Scan page size: also the size of one Redis pipeline. */
  pageSize?: number;
  clock?: () => number;
  onProgress?: (summary: Readonly<RewarmSummary>) => void;
  /** DynamoDB pks left alone (counted as skippedExcluded): entities recovery rebuilds from Kafka instead. */
  exclude?: ReadonlySet<string>;
}

export interface RewarmSummary {
  scanned: number;
  restored: number;
  /** Restored vectors only: no usable state (too large when synced, expired, or undecodable). */
  restoredWithoutState: number;
  skippedExpired: number;
  /** Redis already had this version or a newer one. */
  skippedNewer: number;
  /** Items of another keyspace version, prefix or unknown entity type. */
  skippedForeign: number;
  /** Items in `exclude`. */
  skippedExcluded: number;
  failed: number;
}

export const REWARM_DEFAULTS = { segments: 4, ratePerSec: Infinity, pageSize: 250 } as const;

interface Restore {
  ref: EntityRef;
  keys: string[];
  args: Array<string | Buffer | number>;
  timer?: { partition: number; due: number };
  withState: boolean;
}

export async function rewarm(o: RewarmOptions): Promise<RewarmSummary> {
  loadSyncScripts(o.redis);
  const segments = o.segments ?? REWARM_DEFAULTS.segments;
  const limiter = new RateLimiter(o.ratePerSec ?? REWARM_DEFAULTS.ratePerSec);
  const summary: RewarmSummary = { scanned: 0, restored: 0, restoredWithoutState: 0, skippedExpired: 0, skippedNewer: 0, skippedForeign: 0, skippedExcluded: 0, failed: 0 };
  const scanSegment = async (segment: number) => {
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await o.dynamo.send(
        new ScanCommand({
          TableName: o.table,
          Segment: segment,
          TotalSegments: segments,
          Limit: o.pageSize ?? REWARM_DEFAULTS.pageSize,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      start = page.LastEvaluatedKey;
      const items = page.Items ?? [];
      summary.scanned += items.length;
      const nowMs = (o.clock ?? Date.now)();
      const restores: Restore[] = [];
      for (const item of items) {
        if (o.exclude?.has(item[DYNAMO_PARTITION_KEY]?.S ?? '')) {
          summary.skippedExcluded += 1;
          continue;
        }
        const planned = plan(o, item, nowMs);
        if (planned === 'expired') summary.skippedExpired += 1;
        else if (planned === 'foreign') summary.skippedForeign += 1;
        else restores.push(planned);
      }
      await limiter.take(restores.length);
      await write(o, restores, summary);
      o.onProgress?.(summary);
    } while (start);
  };
  await Promise.all(Array.from({ length: segments }, (_, s) => scanSegment(s)));
  syncMetrics.rewarm.inc({ outcome: 'restored' }, summary.restored);
  syncMetrics.rewarm.inc({ outcome: 'expired' }, summary.skippedExpired);
  syncMetrics.rewarm.inc({ outcome: 'newer' }, summary.skippedNewer);
  syncMetrics.rewarm.inc({ outcome: 'foreign' }, summary.skippedForeign);
  syncMetrics.rewarm.inc({ outcome: 'failed' }, summary.failed);
  return summary;
}

/** The Lua arguments restoring one item, or why it is skipped. */
function plan(o: RewarmOptions, item: Record<string, AttributeValue>, nowMs: number): Restore | 'expired' | 'foreign' {
  const pk = item[DYNAMO_PARTITION_KEY]?.S;
  const ref = pk === undefined ? undefined : o.keys.parseDynamoPk(pk, o.keyspaceVersion);
  const entity = ref && o.layout.entity(ref.entityType);
  if (!ref || !entity) return 'foreign';
  const decoded = itemToVector(item, o.layout.featuresOf(ref.entityType), nowMs);
  if (!decoded) return 'expired';
  if (decoded.version === undefined || decoded.version <= 0) return 'foreign';
  const updatedMs = decoded.updatedMs ?? nowMs;
  const itemTtlMs = (decoded.expiresAtMs ?? Infinity) - nowMs;
  // Every worker write re-arms each key's TTL from the write time, so a key's expiry is
  // updated_ms + its TTL; a group that would have lapsed by now must not come back.
  const groups = entity.groups
    .map((g) => ({ g, ttlMs: Math.min(itemTtlMs, updatedMs + g.keyTtlMs - nowMs) }))
    .filter(({ ttlMs }) => ttlMs > 0);
  if (groups.length === 0) return 'expired';

  const stateTtlMs = updatedMs + entity.stateTtlMs - nowMs;
  const offsets = itemOffsets(item);
  let timer: Restore['timer'];
  let state: Uint8Array | undefined;
  if (decoded.state && stateTtlMs > 0) {
    try {
      const due = o.engine.nextChangeAt(o.engine.deserialize(decoded.state), nowMs);
      state = decoded.state;
      const partition = timerPartition(offsets);
      if (due !== undefined && partition !== undefined) timer = { partition, due };
    } catch {
      // Undecodable state (e.g. written by an incompatible release): restore the vectors alone.
    }
  }

  const keys = [o.keys.state(ref, o.keyspaceVersion)];
  const args: Array<string | Buffer | number> = [decoded.version, updatedMs, Math.max(1, stateTtlMs), state ? Buffer.from(state) : ''];
  args.push(offsets.size);
  for (const [field, offset] of offsets) args.push(field, offset);
  const packed = o.layout.registry.layout === 'packed';
  for (const { g, ttlMs } of groups) {
    keys.push(o.keys.vector(ref, g.name, o.keyspaceVersion));
    const values = storable(g, decoded.features);
    if (packed) args.push(Math.ceil(ttlMs), g.codec.packed(values), 0);
    else {
      const set = g.codec.fields(values).set.flat();
      args.push(Math.ceil(ttlMs), '', set.length / 2, ...set);
    }
  }
  return { ref, keys, args, withState: state !== undefined, ...(timer ? { timer } : {}) };
}

/** The group's values the current registry can hold; the others (type or dim changed) lapse: the reader serves their defaults. */
function storable(g: GroupLayout, values: Record<string, FeatureValue>): Record<string, FeatureValue> {
  const out: Record<string, FeatureValue> = {};
  for (const f of g.features) {
    const value = values[f.name];
    if (value !== undefined && g.codec.holds(f, value)) out[f.name] = value;
  }
  return out;
}

/**
 * The worker keys timers by the Kafka partition the entity's events come
 * from; sources are co-partitioned, so any applied-offset field names it.
 */
function timerPartition(offsets: Map<string, number>): number | undefined {
  for (const field of offsets.keys()) {
    const p = Number(field.slice(field.lastIndexOf(':') + 1));
    if (Number.isSafeInteger(p) && p >= 0) return p;
  }
  return undefined;
}

async function write(o: RewarmOptions, restores: Restore[], summary: RewarmSummary): Promise<void> {
  const replies = await perEntity(o.redis, restores.length, (pipeline, i) => queueSyncScript(pipeline, 'rewarm', restores[i]!.keys, restores[i]!.args));
  const timed: Restore[] = [];
  replies.forEach((reply, i) => {
    const r = restores[i]!;
    if (!reply.ok) summary.failed += 1;
    else if (reply.value === 0) summary.skippedNewer += 1;
    else {
      summary.restored += 1;
      if (!r.withState) summary.restoredWithoutState += 1;
      if (r.timer) timed.push(r);
    }
  });
  // LT, as the worker does: a timer may only move earlier; a spurious early one costs one re-evaluation.
  const timerReplies = await perEntity(o.redis, timed.length, (pipeline, i) => {
    const { ref, timer } = timed[i]!;
    pipeline.zadd(o.keys.timers(timer!.partition, o.keyspaceVersion), 'LT', timer!.due, timerMember(ref.entityType, ref.entityId));
  });
  summary.failed += timerReplies.filter((r) => !r.ok).length;
}
