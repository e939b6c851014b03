/**
 * The dead-letter queue of the sync is BullMQ's failed set. Re-driving a job
 * is safe at any time: it ships the entities' current Redis data and the
 * version condition keeps DynamoDB from moving backwards.
 */
import type { Queue } from 'bullmq';
import type { SyncJobData } from './queue.ts';

const PAGE = 500;

/** Moves up to `limit` failed jobs back to waiting with fresh attempts; returns how many. */
export async function retryFailed(queue: Queue<SyncJobData>, limit = Infinity): Promise<number> {
  // List first, then retry: a job that fails again at once must not be picked up twice in one call.
  const jobs = [];
  for (let start = 0; jobs.length < limit; start += PAGE) {
    const page = await queue.getFailed(start, start + Math.min(PAGE, limit - jobs.length) - 1);
    jobs.push(...page);
    if (page.length === 0) break;
  }
  let retried = 0;
  for (const job of jobs) {
    await job.retry('failed', { resetAttemptsMade: true });
    retried += 1;
  }
  return retried;
}
