/**
 * Builds the worker's Recovery (recovery.ts) from its environment: a Kafka
 * admin client for offsets and a DynamoDB client for the restore. Kept out of
 * worker.ts so the worker's wiring grows by a few lines only.
 */
import type { WindowEngine } from '../aggregations/engine.ts';
import type { EnvConfig } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { Registry } from '../schemas/registry.ts';
import { createDynamoClient } from '../stores/dynamodb.ts';
import type { Keys } from '../stores/keys.ts';
import type { RedisClient } from '../stores/redis.ts';
import type { Consumer, Kafka } from './kafka-client.ts';
import { Recovery } from './recovery.ts';

/** How often idle partitions' marks are checked: bounds how long a loss goes unseen without new events. */
const WATCH_INTERVAL_MS = 1_000;

export interface RecoveryWiring {
  env: EnvConfig;
  kafka: Kafka;
  redis: RedisClient;
  keys: Keys;
  registry: Registry;
  engine: WindowEngine;
  groupId: string;
  topics: string[];
  logger: Logger;
  clock: () => number;
  /** Drops the in-memory states and version view (recovery.ts `clearCache`). */
  clearCache: () => void;
  /** Write-behind: every recovery replays from the horizon (recovery.ts). */
  writeBehind?: boolean;
  consumer: () => Consumer;
  owned: () => Set<number>;
}

export async function createRecovery(w: RecoveryWiring): Promise<{ recovery: Recovery; close: () => Promise<void> }> {
  const admin = w.kafka.admin();
  await admin.connect();
  const dynamo = createDynamoClient(w.env);
  const recovery = new Recovery({
    redis: w.redis,
    keys: w.keys,
    registry: w.registry,
    engine: w.engine,
    dynamo,
    table: w.env.DYNAMODB_TABLE,
    admin: () => admin,
    consumer: w.consumer,
    groupId: w.groupId,
    topics: w.topics,
    owned: w.owned,
    clearCache: w.clearCache,
    ...(w.writeBehind ? { writeBehind: true } : {}),
    clock: w.clock,
    logger: w.logger.child({ component: 'recovery' }),
  });
  recovery.startWatch(WATCH_INTERVAL_MS);
  return {
    recovery,
    async close() {
      await recovery.stopWatch();
      await admin.disconnect();
      dynamo.destroy();
    },
  };
}
