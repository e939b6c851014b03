/**
 * Shared pieces of the sync tests: entities written into Redis through the
 * worker's own write path (Materializer + WindowEngine, no Kafka), a sync
 * service and queue on a random prefix, and readers of both stores' vectors.
 */
import { onTestFinished } from 'vitest';
import { ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { WindowEngine } from '../../src/aggregations/engine.ts';
import { loadEnvConfig } from '../../src/config.ts';
import { Materializer, type EntityWork } from '../../src/consumers/materializer.ts';
import type { KafkaMessage } from '../../src/consumers/kafka-client.ts';
import { createLogger } from '../../src/logger.ts';
import { parseRegistry, type Registry } from '../../src/schemas/registry.ts';
import { GroupCodec } from '../../src/stores/vector-layout.ts';
import { itemToVector } from '../../src/stores/dynamo-item.ts';
import { Keys } from '../../src/stores/keys.ts';
import { readVectorKeys } from '../../src/stores/stored-vector.ts';
import { isCluster, type RedisClient } from '../../src/stores/redis.ts';
import { loadScripts } from '../../src/stores/scripts.ts';
import { createSyncQueue, type SyncQueue } from '../../src/sync/queue.ts';
import { startSyncService, type SyncService, type SyncServiceOptions } from '../../src/sync/service.ts';
import { randomName } from '../helpers/names.ts';
import { testEnv } from '../helpers/services.ts';
import { registryInput, rng } from '../helpers/worker-fixtures.ts';

export const logger = createLogger({ level: 'warn' });
export const PARTITIONS = 4;

export interface SyncScenario {
  prefix: string;
  keys: Keys;
  registry: Registry;
  engine: WindowEngine;
  env: ReturnType<typeof loadEnvConfig>;
  /** Applies `perUser` random tx events to each user, as the worker would; returns the users written. */
  write(userIds: string[], perUser?: number): Promise<string[]>;
}

export function createSyncScenario(redis: RedisClient, seed = Date.now() % 100_000, overrides: Record<string, string> = {}): SyncScenario {
  const prefix = `${randomName('fs-sync')}:`;
  // Hash tags on a Cluster, as the worker's keys have there.
  const keys = new Keys({ prefix, hashTags: isCluster(redis) });
  const registry = parseRegistry(registryInput({ tx: randomName('fs-tx'), logins: randomName('fs-logins') }));
  const engine = new WindowEngine(registry);
  loadScripts(redis);
  const materializer = new Materializer({ redis, keys, registry, engine, keyspaceVersion: 1, logger });
  const random = rng(seed);
  const offsets = new Map<number, number>();
  const topic = registry.source('tx')!.topic;
  return {
    prefix,
    keys,
    registry,
    engine,
    env: loadEnvConfig(testEnv({ FEATURESTREAM_KEY_PREFIX: prefix, ...overrides })),
    async write(userIds, perUser = 2) {
      const now = Date.now();
      const works: EntityWork[] = userIds.map((id) => {
        const partition = Number(id.replace(/\D/g, '')) % PARTITIONS;
        const events = Array.from({ length: perUser }, () => {
          const offset = (offsets.get(partition) ?? -1) + 1;
          offsets.set(partition, offset);
          const ts = now - Math.floor(random() * 3_000_000);
          const fields = { user_id: id, amount: Math.round(random() * 10_000) / 100, merchant_id: `m${Math.floor(random() * 20)}`, ts };
          return { event: { source: 'tx', entityId: id, eventTimeMs: ts, eventId: randomName('e'), fields }, offset, message: {} as KafkaMessage };
        });
        return { ref: { entityType: 'user', entityId: id }, partition, topic, events };
      });
      await materializer.run(works, now, { deadLetter: async () => undefined });
      return userIds;
    },
  };
}

export function users(n: number, from = 0): string[] {
  return Array.from({ length: n }, (_, i) => `u${from + i}`);
}

export async function startSync(s: SyncScenario, dynamo: DynamoDBClient, table: string, extra: Partial<SyncServiceOptions> = {}): Promise<{ service: SyncService; queue: SyncQueue }> {
  const service = await startSyncService({ env: s.env, registry: s.registry, keys: s.keys, logger, dynamo, table, ...extra });
  const queue = createSyncQueue({ env: s.env, keys: s.keys });
  onTestFinished(async () => {
    await service.close();
    await queue.queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  });
  return { service, queue };
}

export const refs = (ids: string[]) => ids.map((entityId) => ({ entityType: 'user', entityId }));

export interface Vector {
  version: number;
  features: Record<string, unknown>;
}

/** Decoded features + version of each user's Redis vector hash (absent users left out). */
export async function redisVectors(redis: RedisClient, s: Pick<SyncScenario, 'keys' | 'registry'>, ids: Iterable<string>): Promise<Map<string, Vector>> {
  const out = new Map<string, Vector>();
  const features = s.registry.featuresOf('user');
  const list = [...ids];
  const contents = await readVectorKeys(redis, list.map((id) => s.keys.vector({ entityType: 'user', entityId: id }, 'features')));
  const codec = new GroupCodec(features);
  list.forEach((id, i) => {
    // Any layout: the default group holds every user feature.
    const stored = codec.decode(contents[i]);
    if (stored) out.set(id, { version: stored.version!, features: stored.values });
  });
  return out;
}

/** Every item of the scenario's prefix, decoded. */
export async function dynamoVectors(client: DynamoDBClient, table: string, s: Pick<SyncScenario, 'keys' | 'registry'>): Promise<Map<string, Vector>> {
  const out = new Map<string, Vector>();
  const features = s.registry.featuresOf('user');
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: table, ConsistentRead: true, ...(start ? { ExclusiveStartKey: start } : {}) }));
    start = page.LastEvaluatedKey;
    for (const item of page.Items ?? []) {
      const ref = s.keys.parseDynamoPk(item.pk!.S!);
      const decoded = ref && itemToVector(item, features, Date.now());
      if (ref && decoded) out.set(ref.entityId, { version: decoded.version!, features: decoded.features });
    }
  } while (start);
  return out;
}

