/**
 * Issue 12 item 2, step by step: entity a1 counts 5 in Redis and DynamoDB,
 * Redis loses everything (FLUSHALL on a private Redis) while the worker runs,
 * one more event arrives: Redis AND DynamoDB must say 6 (on main Redis said 1
 * and DynamoDB stayed at 5 for good). Lost again with no event after it,
 * Redis comes back to 6 by itself.
 */
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadEnvConfig } from '../../src/config.ts';
import { createWorker } from '../../src/consumers/worker.ts';
import { privateRedis } from '../helpers/private-services.ts';
import { testDynamo, testEnv, testKafka } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { CO_PARTITIONED, ENGINE_OPTIONS, createScenario, produce, type Scenario } from '../helpers/worker-fixtures.ts';
import { dynamoVectors, redisVectors } from './sync-fixtures.ts';

function txFor(s: Scenario, userId: string, n: number, from: number) {
  return Array.from({ length: n }, (_, i) => ({
    topic: s.topics.tx,
    message: { key: userId, value: JSON.stringify({ event_id: `e${from + i}`, user_id: userId, amount: 10, merchant_id: 'm1', ts: Date.now() - 60_000 }) },
  }));
}

describe('recovery: the issue reproduction', () => {
  it('counts 6 in Redis and DynamoDB after a FLUSHALL and one more event', async () => {
    const { kafka, createTopic } = await testKafka();
    const s = await createScenario(createTopic, 2);
    const server = await privateRedis();
    const redis = new Redis(server.endpoint, { maxRetriesPerRequest: 1 });
    onTestFinished(() => redis.disconnect());
    const { client, table } = await testDynamo();
    const env = loadEnvConfig(testEnv({ REDIS_URL: server.endpoint, FEATURESTREAM_KEY_PREFIX: s.prefix, DYNAMODB_TABLE: table }));
    const worker = createWorker({ registry: s.registry, env, groupId: s.groupId, metricsPort: false, sessionTimeoutMs: 6_000, ...ENGINE_OPTIONS, ...CO_PARTITIONED });
    onTestFinished(() => worker.stop());
    await worker.start();

    const count = async () => ({
      redis: (await redisVectors(redis, s, ['a1'])).get('a1')?.features.tx_count_24h,
      dynamo: (await dynamoVectors(client, table, s)).get('a1')?.features.tx_count_24h,
    });
    await produce(kafka, txFor(s, 'a1', 5, 0));
    await waitFor('a1 at 5 in Redis and DynamoDB', async () => {
      const c = await count();
      return c.redis === 5 && c.dynamo === 5;
    });

    await redis.flushall();
    await produce(kafka, txFor(s, 'a1', 1, 5));
    await waitFor('a1 at 6 in Redis and DynamoDB', async () => {
      const c = await count();
      return c.redis === 6 && c.dynamo === 6;
    }, { timeoutMs: 60_000 });
    expect(await count()).toEqual({ redis: 6, dynamo: 6 });

    // No further event: the watch over the marks notices the loss by itself.
    await redis.flushall();
    await waitFor('a1 back at 6 in Redis', async () => (await count()).redis === 6, { timeoutMs: 60_000 });
    expect(await count()).toEqual({ redis: 6, dynamo: 6 });
  });
});
