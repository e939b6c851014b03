/**
 * Entity states this worker wrote last, kept in memory so a hot entity skips
 * the load round trip and deserialization on its next batch. A stale entry is
 * harmless: the version CAS refuses its write, and the entity is reloaded from
 * Redis (without the knowledge of what it last wrote, so its next write is full). Entries are taken out while in use, so a failed or abandoned write can
 * never leave a half-applied state behind in the cache.
 */
import { LRUCache } from 'lru-cache';
import type { WindowEngine } from '../aggregations/engine.ts';
import type { WrittenEntity } from './vector-writes.ts';

export type EngineState = ReturnType<WindowEngine['newState']>;

export interface CachedState {
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

  /** After a Redis data loss: entries may be newer than what Redis holds. */
  clear(): void {
    this.lru.clear();
  }
}
