/** Public surface of the DynamoDB sync and Redis rewarm. */
export { createSyncQueue, MAX_REFS_PER_JOB, SYNC_QUEUE_DEFAULTS, type SyncQueue, type SyncQueueOptions, type SyncJobData } from './queue.ts';
export { createSyncWorker, SYNC_WORKER_DEFAULTS, type SyncWorker, type SyncWorkerOptions, type SyncJobResult } from './worker.ts';
export { startSyncService, keysFromEnv, type SyncService, type SyncServiceOptions } from './service.ts';
export { ensureTable } from './table.ts';
export { rewarm, REWARM_DEFAULTS, type RewarmOptions, type RewarmSummary } from './rewarm.ts';
export { retryFailed } from './dlq.ts';
export { SyncLayout } from './snapshot.ts';
export { syncMetrics } from './metrics.ts';
