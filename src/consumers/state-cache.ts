/**
 * Entity states this worker wrote last, kept in memory so a hot entity skips
 * the load round trip and deserialization on its next batch. They are
 * current while this worker holds the newest epoch of their partition
 * (partition-epoch.ts): every entry of a partition is dropped when another
 * writer took an epoch of it since. Entries are taken out while in use, so a
 * failed or abandoned write can never leave a half-applied state behind.
 *
 * Write-behind (checkpoints.ts): an entry whose state is newer than its state
 * hash in Redis is dirty. Dirty entries are never evicted (the LRU bound only
 * applies to clean ones): they are the authoritative state until the next
 * checkpoint writes them and marks them clean.
 */
import { LRUCache } from 'lru-cache';
import type { WindowEngine } from '../aggregations/engine.ts';
import type { EntityRef } from '../stores/keys.ts';
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
  /** Set on dirty entries: what a checkpoint needs to write the state hash. */
  dirty?: { ref: EntityRef; keyspaceVersion: number };
  /** Write-behind: the state holds events whose vector write failed; the next run writes it even without new events. */
  unwritten?: boolean;
}

export class StateCache {
  private readonly lru: LRUCache<string, CachedState>;
  /** partition -> state key -> dirty entry. */
  private readonly dirty = new Map<number, Map<string, CachedState>>();

  constructor(max: number) {
    this.lru = new LRUCache({ max: Math.max(1, max) });
  }

  /** Removes and returns the entry: the caller owns the state until it puts it back. */
  take(key: string, partition: number): CachedState | undefined {
    const dirty = this.dirty.get(partition);
    const held = dirty?.get(key);
    if (held) {
      dirty!.delete(key);
      return held;
    }
    const entry = this.lru.get(key);
    if (entry) this.lru.delete(key);
    return entry;
  }

  /** A dirty entry goes back dirty (it stays so until a checkpoint writes it), a clean one into the LRU. */
  put(key: string, entry: CachedState): void {
    if (!entry.dirty) {
      this.lru.set(key, entry);
      return;
    }
    let dirty = this.dirty.get(entry.partition);
    if (!dirty) this.dirty.set(entry.partition, (dirty = new Map()));
    dirty.set(key, entry);
  }

  /** The dirty entries of a partition, left in place (a checkpoint marks them clean once written). */
  dirtyOf(partition: number): Array<[key: string, entry: CachedState]> {
    return [...(this.dirty.get(partition) ?? [])];
  }

  /** Partitions with dirty entries. */
  dirtyPartitions(): number[] {
    return [...this.dirty].filter(([, d]) => d.size > 0).map(([p]) => p);
  }

  /** Dirty entries of all partitions. */
  dirtyCount(): number {
    let n = 0;
    for (const d of this.dirty.values()) n += d.size;
    return n;
  }

  /** Written by a checkpoint as `version`: the entry becomes clean, unless a batch took it meanwhile (then it is that batch's). */
  markClean(key: string, entry: CachedState, version: number, written: WrittenEntity | undefined): void {
    const dirty = this.dirty.get(entry.partition);
    if (dirty?.get(key) !== entry) return;
    dirty.delete(key);
    this.lru.set(key, { partition: entry.partition, version, offsets: entry.offsets, state: entry.state, written, ...(entry.unwritten ? { unwritten: true } : {}) });
  }

  /** Another writer took the partition's epoch (or this worker lost it): its entries may be stale. */
  dropPartition(partition: number): void {
    this.dirty.delete(partition);
    const stale = [...this.lru.entries()].filter(([, entry]) => entry.partition === partition);
    for (const [key] of stale) this.lru.delete(key);
  }

  /** After a Redis data loss: entries may be newer than what Redis holds. */
  clear(): void {
    this.lru.clear();
    this.dirty.clear();
  }
}
