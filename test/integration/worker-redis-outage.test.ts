/**
 * Redis stopped mid-stream (through a good number of retries): the worker pauses, commits nothing,
 * never exits, and resumes by itself when Redis returns; vectors are exact.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { Redis } from 'ioredis';
import { loadEnvConfig } from '../../src/config.ts';
import { createWorker } from '../../src/consumers/worker.ts';
import { workerMetrics } from '../../src/metrics.ts';
import { referenceVectors } from '../helpers/reference.ts';
import { privateRedis } from '../helpers/private-services.ts';
import { testEnv, testKafka } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { CO_PARTITIONED, ENGINE_OPTIONS, caughtUp, committedTotal, createScenario, produce, produceOverTime, randomEvents, readTopics, readVectors, rng } from '../helpers/worker-fixtures.ts';

async function redisRetries(): Promise<number> {
  return (await workerMetrics.redisUnavailable.get()).values.reduce((a, v) => a + v.value, 0);
}

describe('worker during a Redis outage', () => {
  it('pauses without committing, then resumes exactly', async () => {
    const redisServer = await privateRedis();
    const { kafka, admin, createTopic } = await testKafka();
    const s = await createScenario(createTopic, 4);
    const topics = [s.topics.tx, s.topics.logins];
    const seed = Date.now() % 100_000;
    const env = loadEnvConfig(testEnv({ REDIS_URL: redisServer.endpoint, FEATURESTREAM_KEY_PREFIX: s.prefix }));
    const worker = createWorker({ registry: s.registry, env, groupId: s.groupId, metricsPort: false, sessionTimeoutMs: 6_000, ...ENGINE_OPTIONS, ...CO_PARTITIONED });
    onTestFinished(() => worker.stop());
    await worker.start();

    await produceOverTime(kafka, s, { chunks: 5, perChunk: 300, users: 100, pauseMs: 100, seed });
    await waitFor('first progress', async () => (await committedTotal(admin, s.groupId, topics)) > 0);

    await redisServer.stop();
    // Traffic keeps arriving during the outage.
    await produce(kafka, randomEvents(s, 1_500, 100, Date.now(), rng(seed + 1)));
    await waitFor('the worker to notice', () => !worker.ready());
    const frozen = await committedTotal(admin, s.groupId, topics);
    // Retried a good many times (the backoff caps at 1 s), yet nothing committed meanwhile.
    const retriedBefore = await redisRetries();
    await waitFor('the worker to retry through the outage', async () => (await redisRetries()) >= retriedBefore + 10, { timeoutMs: 60_000 });
    expect(await committedTotal(admin, s.groupId, topics)).toBe(frozen);
    expect(await caughtUp(admin, s.groupId, topics)).toBe(false);
    await redisServer.start();

    await waitFor('the worker to catch up after the outage', () => caughtUp(admin, s.groupId, topics), { timeoutMs: 60_000, intervalMs: 250 });
    expect(worker.ready()).toBe(true);
    const redis = new Redis(redisServer.endpoint);
    onTestFinished(() => void redis.disconnect());
    const expected = referenceVectors(s.registry, await readTopics(kafka, admin, topics), Date.now(), ENGINE_OPTIONS);
    expect(await readVectors(redis, s, expected.keys()), `seed ${seed}`).toEqual(expected);
  });
});
