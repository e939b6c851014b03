/**
 * Entity states this worker wrote last, kept in memory so a hot entity skips
 * the load round trip and deserialization on its next batch. They are
 * current while this worker holds the newest epoch of their partition
 * (partition-epoch.ts): every entry of a partition is dropped when another
 * writer took an epoch of it since. Entries are taken out while in use, so a
 * failed or abandoned write can never leave a half-applied state behind.
 */
import { LRUCache } from 'lru-cache';
import type { WindowEngine } from '../aggregations/engine.ts';
import type { WrittenEntity } from './vector-writes.ts';

export type EngineState = ReturnType<WindowEngine['newState']>;

export interface CachedState {
  /** Kafka partition number the entity's events come from. */
  partition: number;
  version: number;
  offsets: Map<string, number>;
  state: EngineState;
  /** What the write of `version` left in the vector hashes (see vector-writes.ts); valid only while Redis still holds `version`. */
  written: WrittenEntity | undefined;
}

export class StateCache {
  private readonly lru: LRUCache<string, CachedState>;

  constructor(max: number) {
    this.lru = new LRUCache({ max: Math.max(1, max) });
  }

  /** Removes and returns the entry: the caller owns the state until it puts it back. */
  take(key: string): CachedState | undefined {
    const entry = this.lru.get(key);
    if (entry) this.lru.delete(key);
    return entry;
  }

  put(key: string, entry: CachedState): void {
    this.lru.set(key, entry);
  }

  /** Another writer took the partition's epoch: its entries may be stale. */
  dropPartition(partition: number): void {
    const stale = [...this.lru.entries()].filter(([, entry]) => entry.partition === partition);
    for (const [key] of stale) this.lru.delete(key);
  }

  /** After a Redis data loss: entries may be newer than what Redis holds. */
  clear(): void {
    this.lru.clear();
  }
}
