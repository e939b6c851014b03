/**
 * Which keyspace version a live worker writes, decided per batch and per timer
 * tick instead of once at start, so a backfilled version N takes over without
 * a restart when the registry is unchanged, and with a rolling restart onto
 * the new config when it changed.
 *
 * The per-entity offset fence makes two writers of N exactly-once only while
 * N is contiguous per partition: a live batch starting at offset `a` may go
 * into N only when everything before `a` is in N already, i.e. the backfill's
 * published position is >= a, or this partition already switched (then the
 * live worker itself wrote everything from its switch on). Otherwise the batch
 * goes to the previous version (readers no longer look there) or, for a
 * worker that can only write N, waits for the backfill to pass `a`.
 */
import { FeaturestreamError, ServiceUnavailableError } from '../../errors.ts';
import type { Registry } from '../../schemas/registry.ts';
import type { Keys } from '../../stores/keys.ts';
import type { RedisClient } from '../../stores/redis.ts';
import { layoutFingerprint, markSwitched, readVersionView, topicPartition, type VersionView } from './handover.ts';

export type Decision = { version: number; register?: boolean } | { wait: string };

/**
 * True when this worker's registry may write `v`: built for it, or unrecorded
 * (a version from before layouts were recorded) while no handover targets this
 * worker's registry; then an unrecorded version could hold another layout.
 */
function writable(view: VersionView, fingerprint: string, v: number): boolean {
  const recorded = view.layouts.get(v);
  if (recorded !== undefined) return recorded === fingerprint;
  const h = view.handover;
  return h === undefined || (h.version !== v && view.layouts.get(h.version) !== fingerprint);
}

/** Pure: the version for a batch of `topic`/`partition` starting at `firstOffset`. */
export function decideBatch(view: VersionView, fingerprint: string, topic: string, partition: number, firstOffset: number): Decision {
  const { active, handover: h } = view;
  const known = view.layouts.get(active) !== undefined;
  if (!h || active !== h.version) {
    if (writable(view, fingerprint, active)) return { version: active, register: !known };
    return {
      wait: h
        ? `keyspace version ${h.version} (this worker's registry) is being backfilled; waiting for it to become active`
        : `keyspace version ${active} was built for another registry; restart this worker with that version's config`,
    };
  }
  const tp = topicPartition(topic, partition);
  if (view.layouts.get(h.version) === fingerprint) {
    if (h.switched.has(tp) || firstOffset <= (h.positions.get(tp) ?? -1)) return { version: h.version };
    if (writable(view, fingerprint, h.from)) return { version: h.from };
    return { wait: `backfill of version ${h.version} has not reached ${tp} offset ${firstOffset} yet` };
  }
  if (writable(view, fingerprint, h.from)) return { version: h.from };
  return { wait: `no keyspace version matches this worker's registry; restart it with the config of version ${h.version}` };
}

/** Pure: the timer index a worker ticks (timer work carries no offsets, so no contiguity rule). */
export function decideTimers(view: VersionView, fingerprint: string): number | undefined {
  const { active, handover: h } = view;
  if (writable(view, fingerprint, active)) return active;
  if (h && writable(view, fingerprint, h.from)) return h.from;
  return undefined;
}

/** A batch that cannot be written yet: retriable, so the runner backs off and heartbeats. */
export class VersionWaitError extends FeaturestreamError {
  constructor(message: string) {
    super('FENCED', message, true);
  }
}

export interface BatchVersions {
  forBatch(topic: string, partition: number, firstOffset: number): Promise<number>;
  /** After the batch is durable in `version`: records a partition's switch to the handover version. */
  written(topic: string, partition: number, version: number): Promise<void>;
  /** Undefined: no timer index this worker may write. */
  forTimers(): Promise<number | undefined>;
  /** Redis was restored under any cached view (recovery.ts): the next decision reads it again. */
  forget(): void;
  /** Whether a backfill writes `version` too (by the last view): it hands it over, or still tails it after the close. */
  underHandover(version: number): boolean;
}

/** A worker pinned to one version (the backfill, tests). */
export function fixedVersions(version: number): BatchVersions {
  return {
    forBatch: async () => version,
    written: async () => undefined,
    forTimers: async () => version,
    forget: () => undefined,
    underHandover: () => false,
  };
}

/** How long a live worker decides from one read of the version view. */
export const VIEW_TTL_MS = 1_000;

export class KeyspaceVersions implements BatchVersions {
  private view: VersionView | undefined;
  private readAt = Number.NEGATIVE_INFINITY;
  private loading: Promise<VersionView> | undefined;
  /** Bumped by forget: a read that started before it must not become the view. */
  private epoch = 0;
  private readonly fingerprint: string;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    registry: Registry,
    private readonly ttlMs = VIEW_TTL_MS,
  ) {
    this.fingerprint = layoutFingerprint(registry);
  }

  async forBatch(topic: string, partition: number, firstOffset: number): Promise<number> {
    let decision = decideBatch(await this.current(), this.fingerprint, topic, partition, firstOffset);
    // Only the fallbacks are re-checked against Redis: positions and switches only grow, so a cached "yes" stays true.
    if ('wait' in decision || this.isFallback(decision.version)) {
      decision = decideBatch(await this.refresh(), this.fingerprint, topic, partition, firstOffset);
    }
    if ('wait' in decision) throw new VersionWaitError(decision.wait);
    if (decision.register) {
      await redisCall(() => this.redis.hsetnx(this.keys.layouts(), String(decision.version), this.fingerprint));
      this.view?.layouts.set(decision.version, this.fingerprint);
    }
    return decision.version;
  }

  async written(topic: string, partition: number, version: number): Promise<void> {
    const h = this.view?.handover;
    const tp = topicPartition(topic, partition);
    if (!h || h.version !== version || h.switched.has(tp)) return;
    await redisCall(() => markSwitched(this.redis, this.keys, version, topic, partition));
    h.switched.add(tp);
  }

  async forTimers(): Promise<number | undefined> {
    return decideTimers(await this.current(), this.fingerprint);
  }

  /**
   * A view read while Redis had lost its data says version 1 (no pointer) until
   * it ages out: kept past the restore, it would send the replay into version 1.
   */
  forget(): void {
    this.epoch += 1;
    this.view = undefined;
    this.loading = undefined;
    this.readAt = Number.NEGATIVE_INFINITY;
  }

  underHandover(version: number): boolean {
    return this.view !== undefined && (this.view.handover?.version === version || this.view.backfilling === version);
  }

  private isFallback(version: number): boolean {
    const h = this.view?.handover;
    return h !== undefined && this.view?.active === h.version && version !== h.version;
  }

  private current(): Promise<VersionView> {
    if (this.view && performance.now() - this.readAt < this.ttlMs) return Promise.resolve(this.view);
    return this.refresh();
  }

  private refresh(): Promise<VersionView> {
    if (this.loading) return this.loading;
    // Aged from the start of the read, not its reply: a slow read must not stretch how long a view counts.
    const started = performance.now();
    const epoch = this.epoch;
    const loading = redisCall(() => readVersionView(this.redis, this.keys))
      .then((view) => {
        if (epoch === this.epoch) {
          this.view = view;
          this.readAt = started;
        }
        return view;
      })
      .finally(() => {
        if (this.loading === loading) this.loading = undefined;
      });
    this.loading = loading;
    return loading;
  }
}

/** Redis failures here are outages like any other: retriable, so the runner backs off instead of crashing. */
async function redisCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw new ServiceUnavailableError('redis', (err as Error).message, { cause: err });
  }
}
