/**
 * The demo's DynamoDB copy. The worker streams with dual-write on (every written entity is
 * queued for the sync) but without sync workers of its own: in one process they would share
 * the worker's CPU while the demo times the materialization, and the reader's figures after
 * it. The sync workers start afterwards and copy what was queued.
 */
import type { EnvConfig } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { Registry } from '../schemas/registry.ts';
import type { Keys } from '../stores/keys.ts';
import { createSyncQueue, startSyncService } from '../sync/index.ts';
import { setTimeout as sleep } from 'node:timers/promises';

export interface DemoSync {
  /** Resolves with the ms from the sync's start to an empty sync queue. */
  drained(): Promise<number>;
  close(): Promise<void>;
}

export async function startDemoSync(o: { env: EnvConfig; registry: Registry; keys: Keys; logger: Logger }): Promise<DemoSync> {
  const started = Date.now();
  const service = await startSyncService({ env: o.env, registry: o.registry, keys: o.keys, logger: o.logger });
  const queue = createSyncQueue({ env: o.env, keys: o.keys });
  return {
    async drained() {
      while ((await queue.backlog()).depth > 0) await sleep(100);
      return Date.now() - started;
    },
    async close() {
      await service.close();
      await queue.close();
    },
  };
}
