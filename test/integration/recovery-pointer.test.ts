/**
 * The active keyspace pointer is durable: a backfill switches readers and the
 * worker to version 2 (and copies the pointer and layouts to DynamoDB); Redis
 * then loses everything. The worker's recovery puts the pointer back, so the
 * reader and the worker use version 2 again (on main an absent pointer meant
 * version 1: the worker rebuilt v1 from nothing and readers followed it).
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadEnvConfig } from '../../src/config.ts';
import { createBackfill } from '../../src/consumers/backfill/backfill.ts';
import { readActiveVersion } from '../../src/consumers/backfill/handover.ts';
import { createFeatureReader } from '../../src/index.ts';
import { createLogger } from '../../src/logger.ts';
import { itemToKeyspaceRecord } from '../../src/stores/dynamo-item.ts';
import { referenceVectors } from '../helpers/reference.ts';
import { randomName } from '../helpers/names.ts';
import { privateRedis } from '../helpers/private-services.ts';
import { testDynamo, testEnv, testKafka } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { ENGINE_OPTIONS, caughtUp, createScenario, produce, randomEvents, readTopics, readVectors, rng } from '../helpers/worker-fixtures.ts';
import { recoveries, startWorker } from './recovery-fixtures.ts';

describe('durable keyspace pointer', () => {
  it('after a backfill switch to v2 and a FLUSHALL, readers and the worker use v2 again', async () => {
    const { kafka, admin, createTopic } = await testKafka();
    const s = await createScenario(createTopic, 2);
    const server = await privateRedis();
    const redis = new Redis(server.endpoint, { maxRetriesPerRequest: 1 });
    onTestFinished(() => redis.disconnect());
    const { client, table } = await testDynamo();
    const topics = [s.topics.tx, s.topics.logins];
    const seed = Date.now() % 100_000;
    const overrides = { REDIS_URL: server.endpoint, DYNAMODB_TABLE: table };
    await produce(kafka, randomEvents(s, 800, 60, Date.now(), rng(seed)));
    await startWorker(s, overrides).start();
    await waitFor('the worker to catch up', () => caughtUp(admin, s.groupId, topics), { timeoutMs: 60_000 });

    const backfill = createBackfill({
      registry: s.registry,
      env: loadEnvConfig(testEnv({ FEATURESTREAM_KEY_PREFIX: s.prefix, ...overrides })),
      since: 'earliest',
      groupId: randomName('fs-backfill'),
      liveGroupId: s.groupId,
      sessionTimeoutMs: 6_000,
      logger: createLogger({ level: 'warn' }),
      dynamo: client,
      ...ENGINE_OPTIONS,
    });
    onTestFinished(() => backfill.stop());
    expect(await backfill.run()).toMatchObject({ version: 2, switched: true, completed: true });
    const item = await client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: s.keys.dynamoKeyspacePk() } }, ConsistentRead: true }));
    expect(itemToKeyspaceRecord(item.Item)).toMatchObject({ active: 2 });

    const before = await recoveries();
    await redis.flushall();
    await produce(kafka, randomEvents(s, 200, 60, Date.now(), rng(seed + 1)));
    await waitFor('the worker to recover', async () => (await recoveries()) > before, { timeoutMs: 60_000 });
    await waitFor('the worker to catch up', () => caughtUp(admin, s.groupId, topics), { timeoutMs: 60_000 });
    expect(await readActiveVersion(redis, s.keys)).toBe(2);

    const expected = referenceVectors(s.registry, await readTopics(kafka, admin, topics), Date.now(), ENGINE_OPTIONS);
    await waitFor('version 2 to hold every vector', async () => JSON.stringify([...(await readVectors(redis, s, expected.keys(), 2))]) === JSON.stringify([...expected]));
    expect(await readVectors(redis, s, expected.keys(), 2), `seed ${seed}`).toEqual(expected);
    expect(await redis.exists(s.keys.state({ entityType: 'user', entityId: [...expected.keys()][0]! }, 1))).toBe(0);

    const reader = createFeatureReader({ registry: s.registry, redis, dynamodb: false, keys: s.keys, cache: false, deadlineMs: 2_000, activeVersionTtlMs: 100 });
    onTestFinished(() => reader.close());
    const ids = [...expected.keys()].slice(0, 20);
    const vectors = await reader.getMany('user', ids);
    // Version 1 holds nothing after the loss: a reader on it would serve defaults.
    expect(vectors.map((v) => v.source)).toEqual(ids.map(() => 'redis'));
  });
});
