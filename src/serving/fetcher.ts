/**
 * Reads one batch of entities from the stores, within a deadline:
 * Redis (one round trip per node for every group of every entity, each node
 * behind its own circuit breaker: packed vectors by MGET on a single node and
 * by script call per Cluster master, hashes by pipeline), then DynamoDB for what Redis could not
 * answer (a failed or hung node's entities only), then nothing: an entity no
 * store answered for comes back `undefined` and the caller serves defaults
 * without caching them.
 *
 * A breaker hears only about the reader's own Redis budget (`redisTimeoutMs`):
 * an error, or no answer within it. A fetch deadline that ends first stops the
 * wait, not the verdict, so a caller's short deadline never trips a breaker.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import type { Keys } from '../stores/keys.ts';
import { isCluster, type RedisClient } from '../stores/redis.ts';
import type { BreakerSet } from './breaker.ts';
import { withDeadline } from './deadline.ts';
import { defaultVector, fromRedis, type DefaultCounts, type StoredVector } from './decode.ts';
import type { DecodeMemo } from './decode-memo.ts';
import type { DynamoFallback } from './dynamo-fallback.ts';
import type { ReaderMetrics } from './metrics.ts';
import type { EntityPlan } from './plan.ts';
import type { StoredLayout } from '../stores/vector-layout.ts';
import { readPackedTarget, ScriptUnusableError, type PackedScript } from './packed-script.ts';
import { hmgetTarget, mgetTarget, routeKeys, type HashFields, type HashReply, type TargetKeys } from './redis-batch.ts';
import { VersionLayouts } from './version-layout.ts';

/** `auto` = Redis, falling back to DynamoDB; the others read one store only (diagnostics). */
export type ReadSource = 'auto' | 'redis' | 'dynamodb';

export interface FetcherDeps {
  redis: RedisClient | undefined;
  /** The fallback store, behind its own limit and breaker. */
  dynamo: DynamoFallback | undefined;
  keys: Keys;
  breakers: BreakerSet;
  metrics: ReaderMetrics;
  logger: Logger;
  /** The reader's own Redis budget: no answer within it is a breaker failure, and the rest of the deadline goes to DynamoDB. */
  redisTimeoutMs: number;
  pipelineChunkSize: number;
  /** On a Redis miss, look in DynamoDB (cold start after a Redis flush). */
  readThrough: boolean;
  /** The packed layout's one-call-per-master read on a Cluster (packed-script.ts); undefined: pipelines only. */
  packedScript: PackedScript | undefined;
  /** Packed vectors decoded before, served again while their blobs come back unchanged; undefined: always decode. */
  decodeMemo: DecodeMemo | undefined;
}

/** After Redis refused the script outright (not a moving slot), pipelines only for this long. */
const SCRIPT_RETRY_MS = 30_000;

export interface FetchRequest {
  plan: EntityPlan;
  ids: readonly string[];
  keyspaceVersion: number;
  /** performance.now() value by which the batch must be answered. */
  deadlineAt: number;
  source: ReadSource;
  counts: DefaultCounts;
}

function anyLost(lost: Uint8Array, start: number, n: number): boolean {
  for (let k = start; k < start + n; k++) if (lost[k]) return true;
  return false;
}

export class StoreFetcher {
  private readonly layouts: VersionLayouts;
  /** performance.now() time before which the script is not tried again. */
  private scriptOffUntil = 0;

  constructor(private readonly deps: FetcherDeps) {
    this.layouts = new VersionLayouts(deps.redis, deps.keys);
  }

  /** True when DynamoDB can answer for what Redis could not. */
  get hasFallback(): boolean {
    return this.deps.dynamo !== undefined;
  }

  /** Never rejects. Slot i answers ids[i]; undefined where no store answered in time. */
  async fetch(req: FetchRequest): Promise<Array<StoredVector | undefined>> {
    const out = new Array<StoredVector | undefined>(req.ids.length);
    let pending: number[] = [];
    const useRedis = req.source !== 'dynamodb' && this.deps.redis !== undefined;
    const fallback = req.source !== 'redis' && this.deps.dynamo !== undefined;
    const read = useRedis ? await this.readRedis(req) : undefined;
    if (read) {
      const groups = req.plan.groups.length;
      const memo = read.layout !== 'fields' ? this.deps.decodeMemo : undefined;
      for (let i = 0; i < req.ids.length; i++) {
        if (anyLost(read.lost, i * groups, groups)) {
          if (fallback) pending.push(i);
          continue;
        }
        const stored = memo === undefined ? fromRedis(req.plan, read.replies, i * groups, req.counts, read.layout) : this.decodeOnce(memo, req, read.replies, i);
        if (stored) out[i] = stored;
        else if (this.deps.readThrough && fallback) pending.push(i);
        else out[i] = defaultVector(req.plan, req.counts, 'missing');
      }
    } else if (fallback) {
      pending = req.ids.map((_, i) => i);
    }
    if (pending.length > 0 && fallback) await this.deps.dynamo!.read(req, pending, out);
    return out;
  }

  /** Entity i's packed blobs decoded, or the vector decoded before from the same bytes. */
  private decodeOnce(memo: DecodeMemo, req: FetchRequest, replies: readonly HashReply[], i: number): StoredVector | undefined {
    const groups = req.plan.groups.length;
    const key = memo.key(req.plan, req.ids[i]!);
    const counts = req.counts;
    const known = memo.reuse(key, replies, i * groups, groups, counts);
    if (known !== undefined) return known;
    const { missing, corrupt } = counts;
    const stored = fromRedis(req.plan, replies, i * groups, counts, 'packed');
    if (stored !== undefined) memo.keep(key, replies, i * groups, groups, stored, counts.missing - missing, counts.corrupt - corrupt);
    return stored;
  }

  /**
   * Every group key of every entity, read per node in parallel in the layout of
   * the keyspace version; `lost[k]` marks keys whose node did not answer.
   */
  private async readRedis(req: FetchRequest): Promise<{ replies: HashReply[]; lost: Uint8Array; layout: StoredLayout }> {
    const { plan } = req;
    const layout =
      this.layouts.current(req.keyspaceVersion, plan.layout) ??
      (await this.layouts.load(req.keyspaceVersion, plan.layout, Math.min(this.deps.redisTimeoutMs, req.deadlineAt - performance.now())));
    const { groups } = plan;
    const heads: string[] = [];
    const tails: string[] = [];
    for (const group of groups) {
      const [head, tail] = this.deps.keys.vectorAround(plan.entity, group.name, req.keyspaceVersion);
      heads.push(head);
      tails.push(tail);
    }
    // Entity-major: key i is group i % groups of its entity, read as reads[i % groups].
    const keys = new Array<string>(req.ids.length * groups.length);
    const reads = groups.map((group) => group.read[layout]);
    let k = 0;
    for (const entityId of req.ids) {
      for (let g = 0; g < groups.length; g++) keys[k++] = heads[g]! + entityId + tails[g]!;
    }
    const replies = new Array<HashReply>(keys.length);
    const lost = new Uint8Array(keys.length);
    const { targets, unrouted } = routeKeys(this.deps.redis!, keys);
    if (unrouted.length > 0) {
      for (const k of unrouted) lost[k] = 1;
      this.deps.metrics.redisFailures.inc({ reason: 'error' });
    }
    const strings = layout === 'packed';
    await Promise.all(targets.map((target) => this.readTarget(req, target, keys, reads, replies, lost, strings)));
    return { replies, lost, layout };
  }

  /** One node's keys behind that node's breaker. Never rejects; marks the keys lost on failure. */
  private async readTarget(
    req: FetchRequest,
    target: TargetKeys,
    keys: string[],
    reads: readonly HashFields[],
    replies: HashReply[],
    lost: Uint8Array,
    strings: boolean,
  ): Promise<void> {
    const { metrics, redisTimeoutMs } = this.deps;
    const breaker = this.deps.breakers.for(target.target);
    if (!breaker.tryAcquire()) {
      metrics.redisFailures.inc({ reason: 'circuit_open' });
      for (const k of target.positions) lost[k] = 1;
      return;
    }
    const admitted = breaker.admitted;
    const redis = this.deps.redis!;
    const script = this.deps.packedScript;
    let work: Promise<void>;
    try {
      if (strings && !isCluster(redis)) work = this.mget(redis, target, keys, replies);
      else if (strings && script !== undefined && performance.now() >= this.scriptOffUntil) work = this.scripted(script, target, keys, reads, replies);
      else work = hmgetTarget(redis, keys, reads, target.positions, this.deps.pipelineChunkSize, replies);
    } catch (err) {
      work = Promise.reject(err);
    }
    // Admission ends when Redis really answers, not at our timeout: a backlog keeps counting toward saturation.
    work.then(
      () => breaker.release(),
      () => breaker.release(),
    );
    const verdict = withDeadline(work, redisTimeoutMs, `redis batch read (${target.target})`);
    verdict.then(
      () => breaker.success(),
      (err: unknown) => {
        breaker.failure(admitted);
        metrics.redisFailures.inc({ reason: (err as { code?: string }).code === 'TIMEOUT' ? 'timeout' : 'error' });
        this.deps.logger.debug({ err, target: target.target, keys: target.positions.length }, 'redis batch read failed; falling back');
      },
    );
    try {
      // The verdict settles within redisTimeoutMs: a second timer only matters when the fetch deadline comes first.
      const left = req.deadlineAt - performance.now();
      await (left >= redisTimeoutMs ? verdict : withDeadline(verdict, left, 'redis batch read'));
    } catch {
      for (const k of target.positions) lost[k] = 1;
    }
  }

  /** The single node's packed keys by MGET. */
  private async mget(redis: Redis, target: TargetKeys, keys: string[], replies: HashReply[]): Promise<void> {
    await mgetTarget(redis, keys, target.positions, this.deps.pipelineChunkSize, replies);
    this.deps.metrics.counts.redisReads.mget++;
  }

  /** One master's packed keys by script call, or by pipeline where Redis will not run the script. */
  private async scripted(script: PackedScript, target: TargetKeys, keys: string[], reads: readonly HashFields[], replies: HashReply[]): Promise<void> {
    const counts = this.deps.metrics.counts.redisReads;
    try {
      await readPackedTarget(script, keys, target.positions, this.deps.pipelineChunkSize, replies);
      counts.script++;
      return;
    } catch (err) {
      if (!(err instanceof ScriptUnusableError)) throw err;
      if (!err.retriable) this.scriptOffUntil = performance.now() + SCRIPT_RETRY_MS;
      counts.script_fallback++;
      this.deps.logger.debug({ err, target: target.target }, 'read-packed script not usable; reading by pipeline');
    }
    await hmgetTarget(this.deps.redis!, keys, reads, target.positions, this.deps.pipelineChunkSize, replies);
  }
}
