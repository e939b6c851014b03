/**
 * Crash safety with real processes: a worker is SIGKILLed at random points
 * five times while traffic flows and restarted each time; the final vectors
 * equal the reference (nothing lost, nothing double-counted). The last worker
 * then shuts down gracefully on SIGTERM.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { referenceVectors } from '../helpers/reference.ts';
import { testEnv, testKafka, testRedisClient } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  ENGINE_OPTIONS,
  caughtUp,
  committedTotal,
  createScenario,
  produceOverTime,
  readTopics,
  readVectors,
  rng,
  spawnWorker,
  stopChild,
  type ChildWorker,
} from '../helpers/worker-fixtures.ts';

describe('worker crash', () => {
  it('stays exact across five kill -9s mid-stream', async () => {
    const { kafka, admin, createTopic } = await testKafka();
    const s = await createScenario(createTopic, 4);
    const redis = await testRedisClient(s.prefix);
    const topics = [s.topics.tx, s.topics.logins];
    const seed = Date.now() % 100_000;
    const random = rng(seed + 1);
    const env = testEnv();
    const children: ChildWorker[] = [];
    onTestFinished(async () => {
      for (const c of children) await stopChild(c, 'SIGKILL');
    });

    let killing = true;
    // Traffic flows until the last kill, so every restarted worker has new events to commit.
    const traffic = produceOverTime(kafka, s, { chunks: 100_000, perChunk: 100, users: 120, pauseMs: 200, seed, stop: () => !killing });
    for (let kill = 0; kill < 5; kill++) {
      const before = await committedTotal(admin, s.groupId, topics);
      const child = spawnWorker(s, env);
      children.push(child);
      await waitFor(`worker ${kill} to commit progress (log ${child.logFile})`, async () => (await committedTotal(admin, s.groupId, topics)) > before, {
        timeoutMs: 60_000,
        intervalMs: 50,
      });
      // Random point after the first commit: mid-batch, mid-write or between batches.
      await new Promise((r) => setTimeout(r, Math.floor(random() * 1_500)));
      expect(await stopChild(child, 'SIGKILL')).toBeNull();
    }
    killing = false;
    await traffic;

    const last = spawnWorker(s, env);
    children.push(last);
    await waitFor(`the last worker to catch up (log ${last.logFile})`, () => caughtUp(admin, s.groupId, topics), { timeoutMs: 90_000, intervalMs: 250 });
    const expected = referenceVectors(s.registry, await readTopics(kafka, admin, topics), Date.now(), ENGINE_OPTIONS);
    expect(await readVectors(redis, s, expected.keys()), `seed ${seed}`).toEqual(expected);
    expect(await stopChild(last, 'SIGTERM')).toBe(0);
  });
});
