/**
 * End to end: thousands of random events (late, out of order, duplicated ids,
 * too old, 4 partitions, 2 co-partitioned topics) give exactly the reference
 * vectors; replaying the whole log from offset 0 changes nothing.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadEnvConfig } from '../../src/config.ts';
import { createWorker } from '../../src/consumers/worker.ts';
import { workerMetrics } from '../../src/metrics.ts';
import { bruteForceVectors, toHashVectors } from '../helpers/brute-reference.ts';
import { referenceVectors } from '../helpers/reference.ts';
import { testEnv, testKafka, testRedisClient } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { CO_PARTITIONED, ENGINE_OPTIONS, caughtUp, createScenario, produce, randomEvents, readTopics, readVectors, rng } from '../helpers/worker-fixtures.ts';

async function counterValue(outcome: string, topic: string): Promise<number> {
  const metric = await workerMetrics.eventsApplied.get();
  return metric.values.filter((v) => v.labels.outcome === outcome && v.labels.topic === topic).reduce((a, v) => a + v.value, 0);
}

describe('worker exactness', () => {
  it('materializes random traffic exactly and a full replay changes nothing', async () => {
    const { kafka, admin, createTopic } = await testKafka();
    const s = await createScenario(createTopic, 4);
    const redis = await testRedisClient(s.prefix);
    const topics = [s.topics.tx, s.topics.logins];
    const seed = Date.now() % 100_000;
    await produce(kafka, randomEvents(s, 4_000, 150, Date.now(), rng(seed)));

    const env = loadEnvConfig(testEnv({ FEATURESTREAM_KEY_PREFIX: s.prefix }));
    const start = () => {
      const w = createWorker({ registry: s.registry, env, groupId: s.groupId, metricsPort: false, sessionTimeoutMs: 6_000, ...ENGINE_OPTIONS, ...CO_PARTITIONED });
      onTestFinished(() => w.stop());
      return w;
    };
    const first = start();
    await first.start();
    await waitFor('the worker to catch up', () => caughtUp(admin, s.groupId, topics), { timeoutMs: 60_000 });

    const log = await readTopics(kafka, admin, topics);
    const now = Date.now();
    const expected = referenceVectors(s.registry, log, now, ENGINE_OPTIONS);
    expect(expected.size).toBeGreaterThan(100);
    const actual = await readVectors(redis, s, expected.keys());
    // The plumbing: every event applied once, whatever the batch cuts ...
    expect(actual, `seed ${seed}`).toEqual(expected);
    // ... and the rules: a brute-force model of the README's window, dedup and lapse rules, written without the engine.
    expect(actual, `brute-force reference, seed ${seed}`).toEqual(toHashVectors(s.registry, bruteForceVectors(s.registry, log, now, ENGINE_OPTIONS)));
    await first.stop();

    // Redelivery: rewind the (now empty) group to the start and consume everything again.
    for (const topic of topics) await admin.resetOffsets({ groupId: s.groupId, topic, earliest: true });
    const appliedBefore = await counterValue('applied', s.topics.tx);
    const fencedBefore = await counterValue('fenced', s.topics.tx);
    const second = start();
    await second.start();
    await waitFor('the replay to finish', () => caughtUp(admin, s.groupId, topics), { timeoutMs: 60_000 });
    expect(await counterValue('fenced', s.topics.tx)).toBeGreaterThan(fencedBefore);
    expect(await counterValue('applied', s.topics.tx)).toBe(appliedBefore);
    expect(await readVectors(redis, s, expected.keys()), `seed ${seed}`).toEqual(expected);
  });
});
