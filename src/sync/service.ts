/**
 * What a process needs to run the sync: the table (created if missing) and a
 * sync worker on it. Used by `featurestream sync` and, in-process, by the
 * materialization worker.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EnvConfig } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { Registry } from '../schemas/registry.ts';
import { createDynamoClient } from '../stores/dynamodb.ts';
import { Keys } from '../stores/keys.ts';
import { ensureTable } from './table.ts';
import { createSyncWorker, type SyncWorker, type SyncWorkerOptions } from './worker.ts';

/** The key layout every command derives from the environment, exactly as the worker does. */
export function keysFromEnv(env: Pick<EnvConfig, 'FEATURESTREAM_KEY_PREFIX' | 'REDIS_CLUSTER_NODES'>): Keys {
  return new Keys({ prefix: env.FEATURESTREAM_KEY_PREFIX, hashTags: env.REDIS_CLUSTER_NODES !== undefined });
}

export interface SyncServiceOptions extends Partial<Pick<SyncWorkerOptions, 'concurrency' | 'writeConcurrency' | 'backoff' | 'onJobDone'>> {
  env: EnvConfig;
  registry: Registry;
  logger: Logger;
  /** Default: keysFromEnv(env). */
  keys?: Keys;
  /** Default: a client on DYNAMODB_ENDPOINT / the AWS chain, owned (closed) by the service. */
  dynamo?: DynamoDBClient;
  /** Default: env.DYNAMODB_TABLE. */
  table?: string;
}

export interface SyncService {
  readonly sync: SyncWorker;
  close(): Promise<void>;
}

export async function startSyncService(o: SyncServiceOptions): Promise<SyncService> {
  // Sync traffic is bursty and parallel: more sockets than the SDK's default 50.
  const dynamo = o.dynamo ?? createDynamoClient(o.env, { requestHandler: { httpAgent: { maxSockets: 128 }, httpsAgent: { maxSockets: 128 } } });
  const table = o.table ?? o.env.DYNAMODB_TABLE;
  await ensureTable(dynamo, table, o.logger);
  const sync = createSyncWorker({
    env: o.env,
    registry: o.registry,
    keys: o.keys ?? keysFromEnv(o.env),
    dynamo,
    table,
    logger: o.logger,
    ...(o.concurrency === undefined ? {} : { concurrency: o.concurrency }),
    ...(o.writeConcurrency === undefined ? {} : { writeConcurrency: o.writeConcurrency }),
    ...(o.backoff === undefined ? {} : { backoff: o.backoff }),
    ...(o.onJobDone === undefined ? {} : { onJobDone: o.onJobDone }),
  });
  return {
    sync,
    async close() {
      await sync.close();
      if (!o.dynamo) dynamo.destroy();
    },
  };
}
