/**
 * Rebalancing with real processes: three workers share six partitions; one is
 * killed and a fourth joins while traffic flows. The final vectors are exact.
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
  spawnWorker,
  stopChild,
  type ChildWorker,
} from '../helpers/worker-fixtures.ts';

describe('worker rebalance', () => {
  it('stays exact when a worker dies and another joins mid-stream', async () => {
    const { kafka, admin, createTopic } = await testKafka();
    const s = await createScenario(createTopic, 6);
    const redis = await testRedisClient(s.prefix);
    const topics = [s.topics.tx, s.topics.logins];
    const seed = Date.now() % 100_000;
    const env = testEnv();
    const children: ChildWorker[] = [];
    onTestFinished(async () => {
      for (const c of children) await stopChild(c, 'SIGKILL');
    });
    const spawn = () => {
      const c = spawnWorker(s, env);
      children.push(c);
      return c;
    };

    let flowing = true;
    // Traffic flows until the end, so each progress check has new events to wait for.
    const traffic = produceOverTime(kafka, s, { chunks: 100_000, perChunk: 150, users: 150, pauseMs: 200, seed, stop: () => !flowing });
    const [a, b] = [spawn(), spawn(), spawn()];
    const progress = async () => {
      const before = await committedTotal(admin, s.groupId, topics);
      await waitFor('group progress', async () => (await committedTotal(admin, s.groupId, topics)) > before, { timeoutMs: 60_000, intervalMs: 100 });
    };
    await progress();
    await stopChild(a!, 'SIGKILL');
    const d = spawn();
    await progress();
    await progress();
    flowing = false;
    await traffic;

    await waitFor('the group to catch up', () => caughtUp(admin, s.groupId, topics), { timeoutMs: 90_000, intervalMs: 250 });
    const expected = referenceVectors(s.registry, await readTopics(kafka, admin, topics), Date.now(), ENGINE_OPTIONS);
    expect(await readVectors(redis, s, expected.keys()), `seed ${seed}`).toEqual(expected);
    for (const c of [b!, d]) expect(c.proc.exitCode).toBeNull();
  });
});
