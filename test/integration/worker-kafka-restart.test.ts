/**
 * A (private) Kafka broker restarted mid-stream: the worker reconnects by
 * itself, consumes what arrives after the restart, and stays exact.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadEnvConfig } from '../../src/config.ts';
import { createKafka } from '../../src/consumers/kafka-client.ts';
import { createWorker } from '../../src/consumers/worker.ts';
import { referenceVectors } from '../helpers/reference.ts';
import { privateKafka } from '../helpers/private-services.ts';
import { randomName } from '../helpers/names.ts';
import { testEnv, testRedisClient } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { CO_PARTITIONED, ENGINE_OPTIONS, caughtUp, committedTotal, createScenario, produceOverTime, readTopics, readVectors } from '../helpers/worker-fixtures.ts';

describe('worker across a broker restart', () => {
  it('reconnects by itself and stays exact', async () => {
    const broker = await privateKafka();
    const kafka = createKafka({ brokers: [broker.endpoint], clientId: randomName('fs-client') });
    const admin = kafka.admin();
    await admin.connect();
    onTestFinished(() => admin.disconnect());
    const createTopic = async (partitions = 1) => {
      const topic = randomName('fs-topic');
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
      return topic;
    };
    const s = await createScenario(createTopic, 3);
    const redis = await testRedisClient(s.prefix);
    const topics = [s.topics.tx, s.topics.logins];
    const seed = Date.now() % 100_000;
    const env = loadEnvConfig(testEnv({ KAFKA_BROKERS: broker.endpoint, FEATURESTREAM_KEY_PREFIX: s.prefix }));
    const worker = createWorker({ registry: s.registry, env, groupId: s.groupId, metricsPort: false, sessionTimeoutMs: 6_000, ...ENGINE_OPTIONS, ...CO_PARTITIONED });
    onTestFinished(() => worker.stop());
    await worker.start();

    await produceOverTime(kafka, s, { chunks: 5, perChunk: 300, users: 100, pauseMs: 100, seed });
    await waitFor('first progress', async () => (await committedTotal(admin, s.groupId, topics)) > 0);
    await broker.stop();
    await broker.start();
    await produceOverTime(kafka, s, { chunks: 5, perChunk: 300, users: 100, pauseMs: 100, seed: seed + 1 });

    await waitFor('the worker to catch up after the restart', () => caughtUp(admin, s.groupId, topics), { timeoutMs: 120_000, intervalMs: 500 });
    const expected = referenceVectors(s.registry, await readTopics(kafka, admin, topics), Date.now(), ENGINE_OPTIONS);
    expect(await readVectors(redis, s, expected.keys()), `seed ${seed}`).toEqual(expected);
    await waitFor('the worker to report ready', () => worker.ready(), { timeoutMs: 30_000 });
  });
});
