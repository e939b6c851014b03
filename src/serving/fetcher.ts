/**
 * Reads one batch of entities from the stores, within a deadline:
 * Redis (one round trip for every group of every entity, behind the circuit
 * breaker), then DynamoDB for what Redis could not answer, then nothing: an
 * entity no store answered for comes back `undefined` and the caller serves
 * defaults without caching them.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Logger } from '../logger.ts';
import type { Keys } from '../stores/keys.ts';
import type { RedisClient } from '../stores/redis.ts';
import type { CircuitBreaker } from './breaker.ts';
import { withDeadline } from './deadline.ts';
import { defaultVector, fromDynamo, fromRedis, type DefaultCounts, type StoredVector } from './decode.ts';
import { batchGetItems } from './dynamo-batch.ts';
import type { ReaderMetrics } from './metrics.ts';
import type { EntityPlan, GroupPlan } from './plan.ts';
import { hmgetBatch, type HashReply } from './redis-batch.ts';

/** `auto` = Redis, falling back to DynamoDB; the others read one store only (diagnostics). */
export type ReadSource = 'auto' | 'redis' | 'dynamodb';

export interface FetcherDeps {
  redis: RedisClient | undefined;
  dynamo: { client: DynamoDBClient; table: string } | undefined;
  keys: Keys;
  breaker: CircuitBreaker;
  metrics: ReaderMetrics;
  logger: Logger;
  /** Upper bound for the Redis stage, leaving the rest of the deadline to DynamoDB. */
  redisTimeoutMs: number;
  pipelineChunkSize: number;
  /** On a Redis miss, look in DynamoDB (cold start after a Redis flush). */
  readThrough: boolean;
}

export interface FetchRequest {
  plan: EntityPlan;
  ids: readonly string[];
  keyspaceVersion: number;
  /** performance.now() value by which the batch must be answered. */
  deadlineAt: number;
  source: ReadSource;
  counts: DefaultCounts;
}

export class StoreFetcher {
  constructor(private readonly deps: FetcherDeps) {}

  /** Never rejects. Slot i answers ids[i]; undefined where no store answered in time. */
  async fetch(req: FetchRequest): Promise<Array<StoredVector | undefined>> {
    const out = new Array<StoredVector | undefined>(req.ids.length);
    let pending: number[] = [];
    const useRedis = req.source !== 'dynamodb' && this.deps.redis !== undefined;
    const fallback = req.source !== 'redis' && this.deps.dynamo !== undefined;
    const replies = useRedis ? await this.readRedis(req) : undefined;
    if (replies) {
      const groups = req.plan.groups.length;
      for (let i = 0; i < req.ids.length; i++) {
        const stored = fromRedis(req.plan, replies, i * groups, req.counts);
        if (stored) out[i] = stored;
        else if (this.deps.readThrough && fallback) pending.push(i);
        else out[i] = defaultVector(req.plan, req.counts, 'missing');
      }
    } else if (fallback) {
      pending = req.ids.map((_, i) => i);
    }
    if (pending.length > 0 && fallback) await this.readDynamo(req, pending, out);
    return out;
  }

  private async readRedis(req: FetchRequest): Promise<HashReply[] | undefined> {
    const { redis, breaker, metrics } = this.deps;
    if (!breaker.tryAcquire()) {
      metrics.redisFailures.inc({ reason: 'circuit_open' });
      return undefined;
    }
    const { plan } = req;
    const keys: string[] = [];
    const reads: GroupPlan[] = [];
    for (const entityId of req.ids) {
      for (const group of plan.groups) {
        keys.push(this.deps.keys.vector({ entityType: plan.entity, entityId }, group.name, req.keyspaceVersion));
        reads.push(group);
      }
    }
    let work: Promise<HashReply[]>;
    try {
      work = hmgetBatch(redis!, keys, reads, this.deps.pipelineChunkSize);
    } catch (err) {
      work = Promise.reject(err);
    }
    // Admission ends when Redis really answers, not at our timeout: a backlog keeps counting toward saturation.
    work.then(
      () => breaker.release(),
      () => breaker.release(),
    );
    const budget = Math.min(this.deps.redisTimeoutMs, req.deadlineAt - performance.now());
    try {
      const replies = await withDeadline(work, budget, 'redis batch read');
      breaker.success();
      return replies;
    } catch (err) {
      breaker.failure();
      const timedOut = (err as { code?: string }).code === 'TIMEOUT';
      metrics.redisFailures.inc({ reason: timedOut ? 'timeout' : 'error' });
      this.deps.logger.debug({ err, entities: req.ids.length }, 'redis batch read failed; falling back');
      return undefined;
    }
  }

  private async readDynamo(req: FetchRequest, pending: number[], out: Array<StoredVector | undefined>): Promise<void> {
    const { client, table } = this.deps.dynamo!;
    const ref = { entityType: req.plan.entity, entityId: '' };
    const pks = pending.map((i) => {
      ref.entityId = req.ids[i]!;
      return this.deps.keys.dynamoPk(ref, req.keyspaceVersion);
    });
    const budget = req.deadlineAt - performance.now();
    if (budget <= 0) return;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), budget);
    try {
      const result = await withDeadline(
        batchGetItems(client, pks, { table, projection: req.plan.dynamoProjection, signal: abort.signal }),
        budget,
        'dynamodb batch read',
      );
      if (result.error !== undefined) this.deps.logger.debug({ err: result.error }, 'dynamodb batch read incomplete');
      const nowMs = Date.now();
      for (let j = 0; j < pending.length; j++) {
        const pk = pks[j]!;
        if (result.unresolved.has(pk)) continue;
        out[pending[j]!] = fromDynamo(req.plan, result.items.get(pk), nowMs, req.counts) ?? defaultVector(req.plan, req.counts, 'missing');
      }
    } catch (err) {
      this.deps.logger.debug({ err }, 'dynamodb batch read timed out');
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
  }
}
