/**
 * Shared by the reader-*.test.ts files: a small two-group registry and
 * helpers that write vectors the way the worker and the sync writer do
 * (the registry's vector layout, packed unless told otherwise; the DynamoDB item layout).
 */
import { PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ChainableCommander } from 'ioredis';
import { Registry as MetricsRegistry } from 'prom-client';
import { onTestFinished } from 'vitest';
import { createFeatureReader, type FeatureReaderOptions } from '../../src/index.ts';
import { defineConfig, parseRegistry, type FeatureValue } from '../../src/schemas/registry.ts';
import { vectorToItem } from '../../src/stores/dynamo-item.ts';
import { queueVectorWrite } from '../../src/stores/stored-vector.ts';
import { GroupCodec, type StoredLayout } from '../../src/stores/vector-layout.ts';
import { Keys } from '../../src/stores/keys.ts';
import { isCluster, type RedisClient } from '../../src/stores/redis.ts';
import { randomName } from '../helpers/names.ts';
import { onCluster, testRedisClient } from '../helpers/services.ts';

const user = { entity: 'user', keyField: 'user_id', timeField: 'ts' } as const;

export const testConfig = defineConfig({
  entities: [{ name: 'user' }, { name: 'merchant' }],
  sources: [
    { name: 'transactions', ...user, schema: { user_id: 'string', amount: 'number', merchant_id: 'string', ts: 'time' } },
    { name: 'profiles', ...user, schema: { user_id: 'string', created_at: 'time', country: 'string', ts: 'time' } },
    { name: 'embeddings', ...user, schema: { user_id: 'string', vec: 'vector', ts: 'time' } },
    { name: 'merchant_tx', entity: 'merchant', keyField: 'merchant_id', timeField: 'ts', schema: { merchant_id: 'string', ts: 'time' } },
  ],
  features: [
    { name: 'tx_count_1h', source: 'transactions', op: 'count', window: '1h', type: 'int', default: 0 },
    { name: 'tx_sum_1h', source: 'transactions', op: 'sum', field: 'amount', window: '1h', type: 'float', default: 0 },
    { name: 'recent_merchants', source: 'transactions', op: 'last_k', field: 'merchant_id', k: 3, type: 'string_list', default: [], freshness: '1d' },
    { name: 'created_at', source: 'profiles', op: 'last', field: 'created_at', type: 'int', default: 0, freshness: '90d' },
    { name: 'country', source: 'profiles', op: 'last', field: 'country', type: 'string', default: 'unknown', freshness: '90d' },
    { name: 'embedding', source: 'embeddings', op: 'last', field: 'vec', type: 'vector', dim: 2, default: [0, 0], freshness: '1d' },
    { name: 'merchant_tx_1h', source: 'merchant_tx', op: 'count', window: '1h', type: 'int', default: 0 },
  ],
  onDemand: [
    { name: 'account_age_days', entity: 'user', kind: 'time_since', input: 'created_at', unit: 'd', default: -1 },
    { name: 'hour_of_day', entity: 'user', kind: 'hour_of_day', default: 0 },
  ],
  groups: [
    { name: 'velocity', features: ['tx_count_1h', 'tx_sum_1h', 'recent_merchants'] },
    { name: 'profile', features: ['created_at', 'country', 'embedding'] },
    { name: 'features', features: ['merchant_tx_1h'] },
  ],
});

export const testRegistry = parseRegistry(testConfig);

export type UserValues = Partial<Record<string, FeatureValue>>;

const codecs = new Map(testRegistry.groupsOf('user').map((g) => [g.name, new GroupCodec(g.features.map((n) => testRegistry.feature(n)!))]));

/** Queues the group hashes of one user as the worker writes them (in `meta.layout`, default the registry's); missing features are left out. */
export function queueUser(
  pipeline: ChainableCommander,
  keys: Keys,
  id: string,
  values: UserValues,
  meta: { version?: number; updatedMs?: number; keyspaceVersion?: number; ttlMs?: number; layout?: StoredLayout } = {},
): void {
  for (const group of testRegistry.groupsOf('user')) {
    const present: Record<string, FeatureValue> = {};
    for (const name of group.features) {
      const value = values[name];
      if (value !== undefined && value !== null) present[name] = value;
    }
    if (Object.keys(present).length === 0) continue;
    const key = keys.vector({ entityType: 'user', entityId: id }, group.name, meta.keyspaceVersion ?? 1);
    queueVectorWrite(pipeline, key, codecs.get(group.name)!.content(meta.layout ?? testRegistry.layout, present, meta.version ?? 1, meta.updatedMs ?? Date.now()));
    pipeline.pexpire(key, meta.ttlMs ?? 60_000);
  }
}

/** Writes users' hashes; on a Cluster one pipeline per user (its keys share a hash tag, so one slot). */
export async function seedUsers(redis: RedisClient, keys: Keys, users: Array<[string, UserValues]>, meta?: Parameters<typeof queueUser>[4]): Promise<void> {
  const batches = isCluster(redis) ? users.map((u) => [u]) : [users];
  await Promise.all(
    batches.map(async (batch) => {
      const pipeline = redis.pipeline();
      for (const [id, values] of batch) queueUser(pipeline, keys, id, values, meta);
      const replies = await pipeline.exec();
      const failed = replies?.find(([err]) => err);
      if (failed) throw failed[0]!;
    }),
  );
}

export async function putDynamoUser(
  client: DynamoDBClient,
  table: string,
  keys: Keys,
  id: string,
  values: UserValues,
  meta: { version?: number; updatedMs?: number; expiresAtMs?: number; keyspaceVersion?: number } = {},
): Promise<void> {
  const item = vectorToItem(
    keys,
    { entityType: 'user', entityId: id },
    meta.keyspaceVersion ?? 1,
    {
      features: values,
      version: meta.version ?? 1,
      updatedMs: meta.updatedMs ?? Date.now(),
      expiresAtMs: meta.expiresAtMs ?? Date.now() + 3_600_000,
    },
    testRegistry.featuresOf('user'),
  );
  await client.send(new PutItemCommand({ TableName: table, Item: item }));
}

/** Sum of a counter's samples matching `labels`, read from a private metrics registry. */
export async function metricValue(metrics: MetricsRegistry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = metrics.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((sum, v) => sum + v.value, 0);
}

/** A reader of `testConfig` on the test Redis under a fresh `name` prefix: no cache, no DynamoDB, its own metrics; closed after the test. */
export async function testReader(name: string, extra: Partial<FeatureReaderOptions<typeof testConfig>> = {}) {
  const prefix = `${randomName(name)}:`;
  const redis = await testRedisClient(prefix);
  const keys = new Keys({ prefix, hashTags: onCluster() });
  const metrics = new MetricsRegistry();
  const reader = createFeatureReader({ registry: testConfig, redis, dynamodb: false, keys, metrics, cache: false, deadlineMs: 1_000, ...extra });
  onTestFinished(() => reader.close());
  return { redis, keys, metrics, reader };
}
