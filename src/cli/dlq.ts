/**
 * `featurestream dlq retry [--limit N]`: re-drives sync jobs from the failed
 * set (the dead-letter queue) and prints how many were re-queued.
 */
import type { Command } from 'commander';
import { loadEnvConfig } from '../config.ts';
import { createSyncQueue } from '../sync/queue.ts';
import { retryFailed } from '../sync/dlq.ts';
import { keysFromEnv } from '../sync/service.ts';
import { positiveInt } from './sync.ts';

export function register(program: Command): void {
  const dlq = program.command('dlq').description('dead-lettered DynamoDB sync jobs');
  dlq
    .command('retry')
    .description('move failed sync jobs back to the queue with fresh attempts')
    .option('--limit <n>', 'at most this many jobs (default: all)', positiveInt('--limit', Number.MAX_SAFE_INTEGER))
    .action(async (opts: { limit?: number }) => {
      const env = loadEnvConfig();
      const queue = createSyncQueue({ env, keys: keysFromEnv(env) });
      try {
        const retried = await retryFailed(queue.queue, opts.limit);
        const left = await queue.queue.getFailedCount();
        console.log(`retried ${retried} failed sync job(s); ${left} left in the dead-letter queue`);
      } finally {
        await queue.close();
      }
    });
}
