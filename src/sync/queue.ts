/**
 * The producer side of the DynamoDB sync: the worker hands over the entities
 * each batch wrote, BEFORE committing Kafka offsets. A job only names entities
 * (the sync worker reads their current data), so jobs are small and late jobs
 * are harmless. One call adds one job (several when over MAX_REFS_PER_JOB, in
 * one atomic addBulk): BullMQ does thousands of jobs/s, not one per event.
 */
import { Queue, type JobsOptions } from 'bullmq';
import type { EnvConfig } from '../config.ts';
import { ServiceUnavailableError } from '../errors.ts';
import type { EntityRef, Keys } from '../stores/keys.ts';
import { createRedis, type RedisClient } from '../stores/redis.ts';
import { trackBacklog } from './metrics.ts';

export const SYNC_JOB_NAME = 'sync';
export const MAX_REFS_PER_JOB = 1_000;
/** Backoff type resolved by the sync worker's custom strategy (backoff.ts). */
export const SYNC_BACKOFF_TYPE = 'sync-jitter';

/** Job payload, kept compact: `[entityType, entityId]` pairs. */
export interface SyncJobData {
  v: number;
  refs: Array<[string, string]>;
}

export interface SyncQueueOptions {
  env: Pick<EnvConfig, 'REDIS_URL' | 'REDIS_CLUSTER_NODES'>;
  keys: Keys;
  /** Share an existing fail-fast client (e.g. the worker's); else a fail-fast one is created and owned. */
  connection?: RedisClient;
  /** Attempts per job before it lands in the failed set (the dead-letter queue). */
  attempts?: number;
  /** Failed jobs are kept this long for `dlq retry`. */
  keepFailedMs?: number;
}

export interface SyncQueue {
  /** Resolves once the job is stored in Redis (durably enqueued); throws ServiceUnavailableError('redis') otherwise. */
  enqueue(keyspaceVersion: number, refs: readonly EntityRef[]): Promise<void>;
  /** Jobs not yet done (waiting + delayed + active) and the age of the oldest of them. */
  backlog(): Promise<{ depth: number; oldestAgeMs: number }>;
  readonly queue: Queue<SyncJobData>;
  close(): Promise<void>;
}

export const SYNC_QUEUE_DEFAULTS = {
  attempts: 12,
  keepFailedMs: 14 * 24 * 3600_000,
} as const;

export function createSyncQueue(options: SyncQueueOptions): SyncQueue {
  const attempts = options.attempts ?? SYNC_QUEUE_DEFAULTS.attempts;
  const keepFailedMs = options.keepFailedMs ?? SYNC_QUEUE_DEFAULTS.keepFailedMs;
  // Fail fast: a Redis outage must surface to the worker's batch retry, not queue up in memory.
  const connection = options.connection ?? createRedis(options.env, { failFast: true, commandTimeoutMs: 5_000 });
  const queue = new Queue<SyncJobData>(options.keys.syncQueueName(), { connection, prefix: options.keys.bullPrefix() });
  // Connection errors reach callers as rejected adds; the emitter's copy would crash the process unhandled.
  queue.on('error', () => undefined);
  const jobOptions: JobsOptions = {
    attempts,
    backoff: { type: SYNC_BACKOFF_TYPE },
    removeOnComplete: true,
    removeOnFail: { age: Math.ceil(keepFailedMs / 1000) },
  };

  const backlog = async () => {
    const counts = await queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
    const depth = Object.values(counts).reduce((a, b) => a + b, 0);
    if (depth === 0) return { depth, oldestAgeMs: 0 };
    // Oldest by creation time; delayed jobs sort by due time, so a few from each head are sampled.
    const heads = await queue.getJobs(['waiting', 'delayed', 'active', 'prioritized'], 0, 19, true);
    const oldest = Math.min(...heads.map((j) => j.timestamp));
    return { depth, oldestAgeMs: Number.isFinite(oldest) ? Math.max(0, Date.now() - oldest) : 0 };
  };
  const untrack = trackBacklog({ backlog });

  return {
    queue,
    backlog,
    async enqueue(keyspaceVersion, refs) {
      const unique = new Map<string, [string, string]>();
      for (const r of refs) unique.set(`${r.entityType}\u0000${r.entityId}`, [r.entityType, r.entityId]);
      if (unique.size === 0) return;
      const all = [...unique.values()];
      const jobs = [];
      for (let i = 0; i < all.length; i += MAX_REFS_PER_JOB) {
        jobs.push({ name: SYNC_JOB_NAME, data: { v: keyspaceVersion, refs: all.slice(i, i + MAX_REFS_PER_JOB) }, opts: jobOptions });
      }
      try {
        if (jobs.length === 1) await queue.add(SYNC_JOB_NAME, jobs[0]!.data, jobOptions);
        else await queue.addBulk(jobs);
      } catch (err) {
        throw new ServiceUnavailableError('redis', `sync enqueue failed: ${(err as Error).message}`, { cause: err });
      }
    },
    async close() {
      untrack();
      await queue.close();
      if (!options.connection) connection.disconnect();
    },
  };
}
