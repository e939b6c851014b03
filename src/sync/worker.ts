/**
 * The consumer side of the DynamoDB sync: a BullMQ worker that, per job,
 * reads the listed entities' CURRENT Redis data in one round trip and puts
 * each as a versioned item (conditional on DynamoDB holding an older version).
 * Retriable failures (throttling, outage) throw so BullMQ retries the job with
 * jittered backoff, narrowed to the entities that failed; permanent ones end
 * in the failed set, which is the dead-letter queue (`featurestream dlq`).
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import pLimit from 'p-limit';
import type { EnvConfig } from '../config.ts';
import { ServiceUnavailableError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Registry } from '../schemas/registry.ts';
import type { EntityRef, Keys } from '../stores/keys.ts';
import { createRedis, type RedisClient } from '../stores/redis.ts';
import { BACKOFF_DEFAULTS, syncBackoffMs, type BackoffOptions } from './backoff.ts';
import { snapshotToItem } from './item.ts';
import { syncMetrics } from './metrics.ts';
import type { SyncJobData } from './queue.ts';
import { loadSyncScripts } from './scripts.ts';
import { readSnapshots, SyncLayout } from './snapshot.ts';
import { putIfNewer } from './writer.ts';

export interface SyncWorkerOptions {
  env: Pick<EnvConfig, 'REDIS_URL' | 'REDIS_CLUSTER_NODES'>;
  registry: Registry;
  keys: Keys;
  dynamo: DynamoDBClient;
  table: string;
  logger: Logger;
  /** Jobs processed at once by this worker. */
  concurrency?: number;
  /** PutItem calls in flight at once, across all of this worker's jobs. */
  writeConcurrency?: number;
  backoff?: BackoffOptions;
  clock?: () => number;
  /** Called after each successful job; the benchmark measures lag with it. */
  onJobDone?: (result: SyncJobResult, job: Job<SyncJobData>) => void;
}

export interface SyncJobResult {
  written: number;
  skipped: number;
  gone: number;
}

export interface SyncWorker {
  readonly worker: Worker<SyncJobData, SyncJobResult>;
  close(): Promise<void>;
}

export const SYNC_WORKER_DEFAULTS = { concurrency: 4, writeConcurrency: 32 } as const;

interface Failure {
  ref: EntityRef;
  error: Error;
  retriable: boolean;
}

export function createSyncWorker(o: SyncWorkerOptions): SyncWorker {
  const logger = o.logger.child({ component: 'sync' });
  const clock = o.clock ?? Date.now;
  const layout = new SyncLayout(o.registry);
  const limit = pLimit(o.writeConcurrency ?? SYNC_WORKER_DEFAULTS.writeConcurrency);
  // Data reads ride their own client so the worker's blocking BullMQ connection never waits behind them.
  const redis: RedisClient = createRedis(o.env, { commandTimeoutMs: 10_000 });
  redis.on('error', () => undefined);
  loadSyncScripts(redis);
  // BullMQ workers must wait out Redis blips rather than fail commands (maxRetriesPerRequest: null).
  const connection = createRedis(o.env, { redisOptions: { maxRetriesPerRequest: null } });
  connection.on('error', () => undefined);
  const backoff = o.backoff ?? BACKOFF_DEFAULTS;

  const processJob = async (job: Job<SyncJobData, SyncJobResult>): Promise<SyncJobResult> => {
    const { v, refs } = job.data;
    const entityRefs = refs.map(([entityType, entityId]) => ({ entityType, entityId }));
    const snapshots = await readSnapshots(redis, o.keys, layout, v, entityRefs, clock());
    const result: SyncJobResult = { written: 0, skipped: 0, gone: 0 };
    const failures: Failure[] = [];
    await Promise.all(
      snapshots.map(async (s, i) => {
        const ref = entityRefs[i]!;
        if (s.kind === 'gone') {
          result.gone += 1;
          return;
        }
        if (s.kind === 'error') {
          failures.push({ ref, error: s.error, retriable: s.retriable });
          return;
        }
        const built = snapshotToItem(o.keys, ref, v, s.snapshot, layout.featuresOf(ref.entityType));
        if (built.stateOmitted) syncMetrics.stateOmitted.inc();
        const outcome = await limit(() => putIfNewer(o.dynamo, o.table, built.item));
        if (outcome.kind === 'written') result.written += 1;
        else if (outcome.kind === 'skipped') result.skipped += 1;
        else failures.push({ ref, error: outcome.error, retriable: outcome.retriable });
      }),
    );
    syncMetrics.itemsWritten.inc(result.written);
    syncMetrics.conditionalSkips.inc(result.skipped);
    syncMetrics.expiredSkips.inc(result.gone);
    if (failures.length > 0) await fail(job, failures);
    syncMetrics.lag.observe(Math.max(0, Date.now() - job.timestamp));
    return result;
  };

  const fail = async (job: Job<SyncJobData, SyncJobResult>, failures: Failure[]): Promise<never> => {
    const total = job.data.refs.length;
    const retriable = failures.filter((f) => f.retriable).length;
    syncMetrics.itemFailures.inc({ retriable: 'true' }, retriable);
    syncMetrics.itemFailures.inc({ retriable: 'false' }, failures.length - retriable);
    // Narrow the job to what failed, so a retry (or a DLQ re-drive) does not redo the rest.
    await job.updateData({ v: job.data.v, refs: failures.map((f) => [f.ref.entityType, f.ref.entityId]) }).catch(() => undefined);
    const first = failures[0]!.error;
    const message = `${failures.length} of ${total} items failed (${retriable} retriable); first: ${first.name}: ${first.message}`;
    if (retriable === 0) throw new UnrecoverableError(message);
    throw new ServiceUnavailableError('dynamodb', message, { cause: first });
  };

  const worker = new Worker<SyncJobData, SyncJobResult>(o.keys.syncQueueName(), processJob, {
    connection,
    prefix: o.keys.bullPrefix(),
    concurrency: o.concurrency ?? SYNC_WORKER_DEFAULTS.concurrency,
    settings: { backoffStrategy: (attemptsMade) => syncBackoffMs(attemptsMade, backoff) },
  });
  worker.on('completed', (job, result) => o.onJobDone?.(result, job));
  worker.on('failed', (job, err) => {
    // `failed` fires on every failed attempt; finishedOn is set only when the job lands in the failed set.
    if (!job?.finishedOn) return;
    syncMetrics.failedJobs.inc();
    logger.warn({ jobId: job.id, refs: job.data.refs.length, attempts: job.attemptsMade, err: err.message }, 'sync job dead-lettered');
  });
  worker.on('error', (err) => logger.warn({ err: err.message }, 'sync worker error; BullMQ reconnects'));

  return {
    worker,
    async close() {
      await worker.close();
      redis.disconnect();
      connection.disconnect();
    },
  };
}
