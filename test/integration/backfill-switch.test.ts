/**
 * The whole handover with traffic flowing: a live worker (registry v1) serves
 * version 1; a backfill with one added feature builds version 2 from the
 * earliest offsets, switches the pointer when caught up and tails; the live
 * workers are rolled onto the new config and take over partition by partition.
 * Afterwards every vector in version 2 (old features and the new one) equals
 * the reference over the whole history; a reader polling throughout sees each
 * call entirely in one version, switching once; the live group never stalls.
 * The live workers run both ways: fenced per entity, and write-behind
 * (co-partitioned, states checkpointed every second). With an unchanged
 * registry the running worker takes over by itself.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadEnvConfig } from '../../src/config.ts';
import { createBackfill } from '../../src/consumers/backfill/backfill.ts';
import { createWorker } from '../../src/consumers/worker.ts';
import { createFeatureReader } from '../../src/index.ts';
import { createLogger } from '../../src/logger.ts';
import type { Registry } from '../../src/schemas/registry.ts';
import { referenceVectors } from '../helpers/reference.ts';
import { randomName } from '../helpers/names.ts';
import { testEnv, testKafka, testRedisClient } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { ENGINE_OPTIONS, caughtUp, committedTotal, createScenario, produce, produceOverTime, randomEvents, readTopics, readVectors, rng } from '../helpers/worker-fixtures.ts';
import { NEW_FEATURE, withNewFeature } from './backfill-fixtures.ts';

/** How the live workers fence and write: the default, and write-behind checkpoints (which need co-partitioned sources, as here). */
const LIVE_MODES = [
  ['fenced per entity', {}],
  ['write-behind and co-partitioned', { coPartitioned: true, checkpointIntervalMs: 1_000 }],
] as const;

describe('backfill switch', () => {
  it.each(LIVE_MODES)('hands a backfilled version with a new feature over to live workers %s exactly', async (_, mode) => {
    const { kafka, admin, createTopic } = await testKafka();
    const s = await createScenario(createTopic, 2);
    const redis = await testRedisClient(s.prefix);
    const topics = [s.topics.tx, s.topics.logins];
    const seed = Date.now() % 100_000;
    await produce(kafka, randomEvents(s, 2_500, 100, Date.now(), rng(seed)));
    const env = loadEnvConfig(testEnv({ FEATURESTREAM_KEY_PREFIX: s.prefix }));
    const v2 = withNewFeature(s);
    const startWorker = async (registry: Registry) => {
      const w = createWorker({ registry, env, groupId: s.groupId, metricsPort: false, sessionTimeoutMs: 6_000, ...ENGINE_OPTIONS, ...mode });
      onTestFinished(() => w.stop());
      await w.start();
      return w;
    };
    const live1 = await startWorker(s.registry);
    await waitFor('the v1 worker to catch up', () => caughtUp(admin, s.groupId, topics), { timeoutMs: 60_000 });

    // Users whose new feature has a value: in version 2 every one of them has it, in version 1 none.
    const history = referenceVectors(v2.registry, await readTopics(kafka, admin, topics), Date.now(), ENGINE_OPTIONS);
    const probe = [...history].filter(([, g]) => g.extra?.[NEW_FEATURE] !== undefined).map(([id]) => id).slice(0, 40);
    expect(probe.length).toBeGreaterThan(20);

    let flowing = true;
    const traffic = produceOverTime(kafka, s, { chunks: 1_000, perChunk: 20, users: 100, pauseMs: 100, seed: seed + 1, stop: () => !flowing });
    const reader = createFeatureReader({ registry: v2.registry, redis, dynamodb: false, keys: s.keys, cache: false, deadlineMs: 2_000, activeVersionTtlMs: 100 });
    onTestFinished(() => reader.close());
    const calls: Array<'v1' | 'v2' | 'mixed'> = [];
    let reading = true;
    const readLoop = (async () => {
      while (reading) {
        const vectors = await reader.getMany('user', probe);
        const withNew = vectors.filter((v) => !v.defaulted.includes(NEW_FEATURE)).length;
        const oldDefaulted = vectors.some((v) => v.defaulted.includes('tx_count_24h'));
        calls.push(oldDefaulted ? 'mixed' : withNew === probe.length ? 'v2' : withNew === 0 ? 'v1' : 'mixed');
        await new Promise((r) => setTimeout(r, 30));
      }
    })();
    const liveCommits: Array<[number, number]> = [];
    const sampleLive = async () => liveCommits.push([Date.now(), await committedTotal(admin, s.groupId, topics)]);

    const backfill = createBackfill({
      registry: v2.registry,
      env,
      since: 'earliest',
      groupId: randomName('fs-backfill'),
      liveGroupId: s.groupId,
      sessionTimeoutMs: 6_000,
      logger: createLogger({ level: process.env.FEATURESTREAM_TEST_LOG_LEVEL ?? 'warn' }),
      ...ENGINE_OPTIONS,
    });
    onTestFinished(() => backfill.stop());
    const done = backfill.run();
    await waitFor(
      'the backfill to switch the pointer',
      async () => {
        await sampleLive();
        return (await redis.get(s.keys.activeVersion())) === '2';
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    // The v1 worker kept committing all along: the backfill never paused it.
    const gaps = liveCommits.slice(1).map(([t, n], i) => ({ t, grew: n > liveCommits[i]![1] }));
    let lastGrowth = liveCommits[0]![0];
    for (const g of gaps) {
      if (g.grew) lastGrowth = g.t;
      // Generous: on a loaded 2-core machine a healthy worker can take a few seconds between commits.
      expect(g.t - lastGrowth, 'live group stalled during the backfill').toBeLessThan(10_000);
    }

    // Rolling restart onto the new config: the v2 worker takes over each partition once the backfill has passed it.
    await startWorker(v2.registry);
    await live1.stop();
    const summary = await Promise.race([
      done,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('backfill did not complete the handover')), 90_000)),
    ]);
    expect(summary).toMatchObject({ version: 2, switched: true, completed: true });
    flowing = false;
    await traffic;
    await waitFor('the v2 worker to catch up', () => caughtUp(admin, s.groupId, topics), { timeoutMs: 60_000 });
    reading = false;
    await readLoop;

    const expected = referenceVectors(v2.registry, await readTopics(kafka, admin, topics), Date.now(), ENGINE_OPTIONS);
    expect(await readVectors(redis, { registry: v2.registry, keys: s.keys }, expected.keys(), 2), `seed ${seed}`).toEqual(expected);
    expect(calls).not.toContain('mixed');
    const firstV2 = calls.indexOf('v2');
    expect(firstV2).toBeGreaterThan(0);
    expect(calls.slice(firstV2)).not.toContain('v1');
    expect(await redis.exists(s.keys.backfill())).toBe(0);
    expect(await redis.hget(s.keys.handover(), 'version')).toBeNull();
  });

  it('with an unchanged registry the running worker follows the pointer without a restart', async () => {
    const { kafka, admin, createTopic } = await testKafka();
    const s = await createScenario(createTopic, 2);
    const redis = await testRedisClient(s.prefix);
    const topics = [s.topics.tx, s.topics.logins];
    const seed = Date.now() % 100_000;
    await produce(kafka, randomEvents(s, 1_500, 80, Date.now(), rng(seed)));
    const env = loadEnvConfig(testEnv({ FEATURESTREAM_KEY_PREFIX: s.prefix }));
    const live = createWorker({ registry: s.registry, env, groupId: s.groupId, metricsPort: false, sessionTimeoutMs: 6_000, ...ENGINE_OPTIONS });
    onTestFinished(() => live.stop());
    await live.start();
    await waitFor('the worker to catch up', () => caughtUp(admin, s.groupId, topics), { timeoutMs: 60_000 });

    let flowing = true;
    const traffic = produceOverTime(kafka, s, { chunks: 1_000, perChunk: 20, users: 80, pauseMs: 100, seed: seed + 1, stop: () => !flowing });
    const backfill = createBackfill({
      registry: s.registry,
      env,
      since: 'earliest',
      groupId: randomName('fs-backfill'),
      liveGroupId: s.groupId,
      sessionTimeoutMs: 6_000,
      logger: createLogger({ level: process.env.FEATURESTREAM_TEST_LOG_LEVEL ?? 'warn' }),
      ...ENGINE_OPTIONS,
    });
    onTestFinished(() => backfill.stop());
    const summary = await Promise.race([
      backfill.run(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('backfill did not complete the handover')), 90_000)),
    ]);
    expect(summary).toMatchObject({ version: 2, switched: true, completed: true });
    flowing = false;
    await traffic;
    await waitFor('the worker to catch up', () => caughtUp(admin, s.groupId, topics), { timeoutMs: 60_000 });

    const expected = referenceVectors(s.registry, await readTopics(kafka, admin, topics), Date.now(), ENGINE_OPTIONS);
    expect(await readVectors(redis, { registry: s.registry, keys: s.keys }, expected.keys(), 2), `seed ${seed}`).toEqual(expected);
  });
});
