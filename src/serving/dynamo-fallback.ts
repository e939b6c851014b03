/**
 * The DynamoDB fallback read, behind a limit and a breaker of its own.
 *
 * The fallback is much slower than Redis and costs this process far more per
 * entity (HTTP, signing, JSON), so unbounded it turns a brief Redis hiccup or
 * a busy moment into an overload that feeds itself: reads pile up, the loop
 * slows, more Redis reads look late and fall back too. So:
 *
 *   - at most `maxInFlight` batch reads are outstanding; one more is refused at
 *     once (`saturated`): its entities get defaults now instead of waiting;
 *   - errors and timeouts open the breaker (`circuit_open`): no reads at all
 *     until a half-open probe succeeds;
 *   - the client is warmed at start (one read of a key that does not exist), so
 *     the first fallback does not also pay for connecting and loading the SDK.
 *
 * Every refusal or failure is counted in featurestream_reader_dynamodb_failures_total;
 * the entities it leaves unanswered are served as defaults (source `default`,
 * counted `unavailable`), never cached.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Logger } from '../logger.ts';
import type { Keys } from '../stores/keys.ts';
import { CircuitBreaker, type BreakerOptions } from './breaker.ts';
import { withDeadline } from './deadline.ts';
import { defaultVector, fromDynamo, type DefaultCounts, type StoredVector } from './decode.ts';
import { batchGetItems } from './dynamo-batch.ts';
import { BREAKER_STATE_VALUE, type ReaderMetrics } from './metrics.ts';
import type { EntityPlan } from './plan.ts';

/** Breaker target label of the fallback. */
export const DYNAMO_TARGET = 'dynamodb';

/** A read given less time than this is not judged: a caller's short deadline says nothing of DynamoDB's health. */
const MIN_JUDGED_MS = 10;

/** The warm-up read's budget: it only opens the connection, nothing waits on it. */
const WARM_MS = 5_000;

export interface DynamoFallbackDeps {
  client: DynamoDBClient;
  table: string;
  keys: Keys;
  metrics: ReaderMetrics;
  logger: Logger;
  /** Batch reads outstanding at most. */
  maxInFlight: number;
  /** The reader's breaker options; their `maxInFlight` (Redis's) is replaced by ours. */
  breaker: Omit<BreakerOptions, 'onStateChange'>;
}

export interface FallbackRequest {
  plan: EntityPlan;
  ids: readonly string[];
  keyspaceVersion: number;
  /** performance.now() value by which the read must be answered. */
  deadlineAt: number;
  counts: DefaultCounts;
}

export class DynamoFallback {
  private readonly breaker: CircuitBreaker;
  private inFlight = 0;

  constructor(private readonly deps: DynamoFallbackDeps) {
    const gauge = deps.metrics.breakerState;
    // The limit is ours (saturation refuses without counting as a failure), so the breaker's own stays out of the way.
    this.breaker = new CircuitBreaker({ ...deps.breaker, maxInFlight: Number.POSITIVE_INFINITY, onStateChange: (state) => gauge.set({ target: DYNAMO_TARGET }, BREAKER_STATE_VALUE[state]) });
    gauge.set({ target: DYNAMO_TARGET }, BREAKER_STATE_VALUE.closed);
  }

  /** Batch reads outstanding now. */
  get outstanding(): number {
    return this.inFlight;
  }

  /** One read of a key no entity has, in the background: connection, credentials and SDK code ready before the first fallback. */
  warm(): void {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), WARM_MS);
    timer.unref();
    const pk = this.deps.keys.dynamoPk({ entityType: '_warmup', entityId: '_' });
    void batchGetItems(this.deps.client, [pk], { table: this.deps.table, signal: abort.signal }).then((result) => {
      clearTimeout(timer);
      if (result.error !== undefined) this.deps.logger.debug({ err: result.error }, 'dynamodb warm-up read failed');
    });
  }

  /**
   * Fills `out[pending[j]]` for the entities DynamoDB answered (defaults for
   * those it does not hold); leaves the rest undefined. Never rejects.
   */
  async read(req: FallbackRequest, pending: readonly number[], out: Array<StoredVector | undefined>): Promise<void> {
    const { client, table, metrics } = this.deps;
    const budget = req.deadlineAt - performance.now();
    if (budget <= 0) return;
    if (this.inFlight >= this.deps.maxInFlight) {
      metrics.dynamoFailures.inc({ reason: 'saturated' });
      return;
    }
    if (!this.breaker.tryAcquire()) {
      metrics.dynamoFailures.inc({ reason: 'circuit_open' });
      return;
    }
    const admitted = this.breaker.admitted;
    const ref = { entityType: req.plan.entity, entityId: '' };
    const pks = pending.map((i) => {
      ref.entityId = req.ids[i]!;
      return this.deps.keys.dynamoPk(ref, req.keyspaceVersion);
    });
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), budget);
    this.inFlight++;
    const work = batchGetItems(client, pks, { table, projection: req.plan.dynamoProjection, signal: abort.signal });
    // The slot is free once the read really ends (the abort ends it at the deadline), not at our verdict.
    void work.then(() => {
      this.inFlight--;
      this.breaker.release();
    });
    try {
      const result = await withDeadline(work, budget, 'dynamodb batch read');
      if (result.error !== undefined) {
        this.judge(false, budget, admitted);
        metrics.dynamoFailures.inc({ reason: abort.signal.aborted ? 'timeout' : 'error' });
        this.deps.logger.debug({ err: result.error }, 'dynamodb batch read incomplete');
      } else {
        this.judge(true, budget, admitted);
      }
      const nowMs = Date.now();
      for (let j = 0; j < pending.length; j++) {
        const pk = pks[j]!;
        if (result.unresolved.has(pk)) continue;
        out[pending[j]!] = fromDynamo(req.plan, result.items.get(pk), nowMs, req.counts) ?? defaultVector(req.plan, req.counts, 'missing');
      }
    } catch (err) {
      this.judge(false, budget, admitted);
      metrics.dynamoFailures.inc({ reason: 'timeout' });
      this.deps.logger.debug({ err }, 'dynamodb batch read timed out');
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
  }

  private judge(ok: boolean, budget: number, admitted: number): void {
    if (ok) this.breaker.success();
    // A half-open probe is always judged: unjudged, it would hold the probe slot for good.
    else if (budget >= MIN_JUDGED_MS || this.breaker.state !== 'closed') this.breaker.failure(admitted);
  }
}
