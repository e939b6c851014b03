/**
 * The keyspace version readers follow (`keys.activeVersion()`, absent = 1).
 * A backfill switches it atomically; the reader re-reads it at most every
 * `ttlMs` and in the background, so the hot path never waits for it except
 * on the very first call.
 */
import type { Keys } from '../stores/keys.ts';
import type { RedisClient } from '../stores/redis.ts';
import { withDeadline } from './deadline.ts';

export class ActiveVersion {
  private value: number | undefined;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private loading: Promise<number> | undefined;
  /** Called when a re-read finds a different version (the reader drops its cache then). */
  onChange: (version: number) => void = () => undefined;

  constructor(
    private readonly redis: RedisClient | undefined,
    private readonly keys: Keys,
    private readonly ttlMs: number,
  ) {}

  /** The version to read now; refreshes in the background when stale. Undefined before the first load. */
  current(): number | undefined {
    if (this.redis === undefined) return 1;
    if (performance.now() - this.fetchedAt >= this.ttlMs && !this.loading) void this.load(this.ttlMs);
    return this.value;
  }

  /**
   * Reads the version from Redis within `budgetMs`. When Redis cannot answer,
   * keeps the last known version (or 1 before any) and retries after `ttlMs`.
   */
  load(budgetMs: number): Promise<number> {
    if (this.loading) return withDeadline(this.loading, budgetMs, 'active version').catch(() => this.value ?? 1);
    this.loading = this.read()
      .then((v) => {
        if (this.value !== undefined && v !== this.value) this.onChange(v);
        this.value = v;
        return v;
      })
      // Assume 1 until Redis answers, so an outage does not make every call wait here.
      .catch(() => (this.value ??= 1))
      .finally(() => {
        this.fetchedAt = performance.now();
        this.loading = undefined;
      });
    return withDeadline(this.loading, budgetMs, 'active version').catch(() => this.value ?? 1);
  }

  private async read(): Promise<number> {
    const raw = await this.redis!.get(this.keys.activeVersion());
    if (raw === null) return 1;
    const v = Number(raw);
    return Number.isSafeInteger(v) && v >= 1 ? v : 1;
  }
}
