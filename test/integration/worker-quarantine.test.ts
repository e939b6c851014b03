/**
 * One broken entity never halts its partition. Garbage in one entity's state
 * hash, and another entity's state key of the wrong type: the other entities
 * of the partition keep materializing (one of them over a vector key of the
 * wrong type, which the packed layout's SET replaces), the broken ones' events go to the
 * dead-letter topic with a code, and the quarantine metric counts them. With a
 * DynamoDB copy, a broken entity is rebuilt from it and ends exact.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadEnvConfig } from '../../src/config.ts';
import { DLQ_HEADERS, deadLetterTopic } from '../../src/consumers/dead-letter.ts';
import type { KafkaMessage } from '../../src/consumers/kafka-client.ts';
import { createWorker } from '../../src/consumers/worker.ts';
import { workerMetrics } from '../../src/metrics.ts';
import { VERSION_FIELD } from '../../src/stores/entity-state.ts';
import { referenceVectors } from '../helpers/reference.ts';
import { randomName } from '../helpers/names.ts';
import { testDynamo, testEnv, testKafka, testRedisClient } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { ENGINE_OPTIONS, caughtUp, createScenario, produce, readTopics, readVectors, type Scenario, type TopicMessage } from '../helpers/worker-fixtures.ts';
import { dynamoVectors } from './sync-fixtures.ts';

function tx(s: Scenario, user: string, n: number, from = 0): TopicMessage[] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => ({
    topic: s.topics.tx,
    message: { key: user, value: JSON.stringify({ event_id: `${user}-${from + i}`, user_id: user, amount: 1 + i, merchant_id: `m${i % 3}`, ts: now - 60_000 }) },
  }));
}

async function quarantined(outcome: string): Promise<number> {
  const metric = await workerMetrics.quarantined.get();
  return metric.values.filter((v) => v.labels.outcome === outcome).reduce((a, v) => a + v.value, 0);
}

async function readDeadLetters(kafka: Awaited<ReturnType<typeof testKafka>>['kafka'], topic: string, count: number): Promise<KafkaMessage[]> {
  const received: KafkaMessage[] = [];
  const consumer = kafka.consumer({ groupId: randomName('fs-dlq-reader') });
  await consumer.connect();
  onTestFinished(() => consumer.disconnect());
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void received.push(message) });
  await waitFor(`${count} dead letters`, () => received.length >= count);
  return received;
}

describe('worker quarantine', () => {
  it('dead-letters a corrupt entity\'s events and keeps materializing the rest of its partition', async () => {
    const { kafka, admin, createTopic } = await testKafka();
    const s = await createScenario(createTopic, 1);
    await createTopic(1, deadLetterTopic(s.topics.tx));
    const redis = await testRedisClient(s.prefix);
    const topics = [s.topics.tx, s.topics.logins];
    const user = (id: string) => ({ entityType: 'user', entityId: id });
    // u1: a state hash the engine cannot decode; u3: a state key that is not a hash; u4: a
    // packed vector key that is a hash (a string key is expected), replaced by the write.
    expect(s.registry.layout).toBe('packed');
    await redis.hset(s.keys.state(user('u1')), { s: 'garbage', [VERSION_FIELD]: '5' });
    await redis.set(s.keys.state(user('u3')), 'not a hash');
    await redis.hset(s.keys.vector(user('u4'), 'features'), 'stale', 'hash');
    await produce(kafka, [...tx(s, 'u1', 4), ...tx(s, 'u2', 3), ...tx(s, 'u3', 2), ...tx(s, 'u4', 5)]);
    const before = await quarantined('dead_lettered');

    const env = loadEnvConfig(testEnv({ FEATURESTREAM_KEY_PREFIX: s.prefix }));
    const worker = createWorker({ registry: s.registry, env, groupId: s.groupId, metricsPort: false, dualWrite: false, ...ENGINE_OPTIONS });
    onTestFinished(() => worker.stop());
    await worker.start();
    await waitFor('the worker to catch up', () => caughtUp(admin, s.groupId, topics), { timeoutMs: 60_000 });

    const all = referenceVectors(s.registry, await readTopics(kafka, admin, topics), Date.now(), ENGINE_OPTIONS);
    const healthy = await readVectors(redis, s, ['u2', 'u4']);
    expect(healthy).toEqual(new Map([...all].filter(([id]) => id === 'u2' || id === 'u4')));
    const letters = await readDeadLetters(kafka, deadLetterTopic(s.topics.tx), 6);
    const header = (m: KafkaMessage, name: string) => m.headers?.[name]?.toString();
    expect(letters.map((m) => `${m.key?.toString()}:${header(m, DLQ_HEADERS.code)}`).sort()).toEqual([
      ...Array<string>(4).fill('u1:STATE_CORRUPT'),
      ...Array<string>(2).fill('u3:STORE_REJECTED'),
    ]);
    expect(await quarantined('dead_lettered')).toBeGreaterThanOrEqual(before + 2);
  });

  it('rebuilds a corrupt entity from its DynamoDB copy and ends exact', async () => {
    const { kafka, admin, createTopic } = await testKafka();
    const s = await createScenario(createTopic, 1);
    const redis = await testRedisClient(s.prefix);
    const { client: dynamo, table } = await testDynamo();
    const topics = [s.topics.tx, s.topics.logins];
    const env = loadEnvConfig(testEnv({ FEATURESTREAM_KEY_PREFIX: s.prefix, DYNAMODB_TABLE: table }));
    const start = async () => {
      const w = createWorker({ registry: s.registry, env, groupId: s.groupId, metricsPort: false, ...ENGINE_OPTIONS });
      onTestFinished(() => w.stop());
      await w.start();
      return w;
    };
    await produce(kafka, [...tx(s, 'u1', 4), ...tx(s, 'u2', 3)]);
    const first = await start();
    await waitFor('the worker to catch up', () => caughtUp(admin, s.groupId, topics), { timeoutMs: 60_000 });
    const stateKey = s.keys.state({ entityType: 'user', entityId: 'u1' });
    const synced = await redis.hget(stateKey, VERSION_FIELD);
    await waitFor('the DynamoDB copy of u1', async () => String((await dynamoVectors(dynamo, table, s)).get('u1')?.version) === synced, {
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    await first.stop();

    await redis.hset(stateKey, { s: 'garbage' });
    const before = await quarantined('rebuilt');
    await produce(kafka, [...tx(s, 'u1', 3, 4), ...tx(s, 'u2', 2, 3)]);
    await start();
    await waitFor('the worker to catch up again', () => caughtUp(admin, s.groupId, topics), { timeoutMs: 60_000 });
    const expected = referenceVectors(s.registry, await readTopics(kafka, admin, topics), Date.now(), ENGINE_OPTIONS);
    expect(await readVectors(redis, s, expected.keys())).toEqual(expected);
    expect(await quarantined('rebuilt')).toBeGreaterThan(before);
  });
});
