/**
 * The stored layout of each keyspace version, from the fingerprint the
 * backfill (or the first worker) recorded for it in `fs:layouts`: during a
 * layout switch the old version is read per field and the new one packed,
 * whatever the reader's own registry says. A version with no record yet is
 * read in the registry's layout. Entries are re-read at most every `ttlMs`,
 * in the background once known, so the hot path waits only for a version it
 * has never seen.
 */
import type { VectorLayout } from '../schemas/registry-input.ts';
import type { Keys } from '../stores/keys.ts';
import type { RedisClient } from '../stores/redis.ts';
import { layoutOfFingerprint, type StoredLayout } from '../stores/vector-layout.ts';
import { withDeadline } from './deadline.ts';

interface Entry {
  /** Undefined: no record for the version (read in the registry's layout). */
  recorded: StoredLayout | undefined;
  fetchedAt: number;
  loading: Promise<void> | undefined;
}

export class VersionLayouts {
  private readonly entries = new Map<number, Entry>();

  constructor(
    private readonly redis: RedisClient | undefined,
    private readonly keys: Keys,
    private readonly ttlMs = 1_000,
  ) {}

  /** The layout to read `version` in now, or undefined before its first load. */
  current(version: number, fallback: VectorLayout): StoredLayout | undefined {
    if (this.redis === undefined) return fallback;
    const entry = this.entries.get(version);
    if (entry === undefined) return undefined;
    if (performance.now() - entry.fetchedAt >= this.ttlMs && !entry.loading) void this.refresh(version, entry);
    return entry.recorded ?? fallback;
  }

  /** Reads the record within `budgetMs`; when Redis cannot answer in time, `fallback` (and a retry after `ttlMs`). */
  async load(version: number, fallback: VectorLayout, budgetMs: number): Promise<StoredLayout> {
    let entry = this.entries.get(version);
    if (entry === undefined) {
      entry = { recorded: undefined, fetchedAt: Number.NEGATIVE_INFINITY, loading: undefined };
      this.entries.set(version, entry);
    }
    const loading = entry.loading ?? this.refresh(version, entry);
    await withDeadline(loading, budgetMs, 'keyspace layout').catch(() => undefined);
    return entry.recorded ?? fallback;
  }

  private refresh(version: number, entry: Entry): Promise<void> {
    let read: Promise<string | null>;
    try {
      read = this.redis!.hget(this.keys.layouts(), String(version));
    } catch (err) {
      read = Promise.reject(err as Error);
    }
    entry.loading = read
      .then((fingerprint) => {
        entry.recorded = fingerprint === null ? undefined : layoutOfFingerprint(fingerprint);
      })
      .catch(() => undefined)
      .finally(() => {
        entry.fetchedAt = performance.now();
        entry.loading = undefined;
      });
    return entry.loading;
  }
}
