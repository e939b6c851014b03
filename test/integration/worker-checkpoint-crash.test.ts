/**
 * Write-behind checkpoints with real processes (`--checkpoint-interval`): a
 * batch writes vectors only, states and offset commits wait for a checkpoint.
 *   1. A worker materializes a first backlog and commits nothing until its
 *      graceful stop checkpoints it.
 *   2. The next worker writes the vectors of a second backlog, so Redis serves
 *      them while its state hashes and the committed offsets still stand at the
 *      checkpoint; it is SIGKILLed then (its interval is an hour: no checkpoint
 *      runs in between).
 *   3. A third worker loads the checkpoint and replays the second backlog from
 *      the committed offsets: no event counts twice and none is lost (a served
 *      vector may step back while the replay runs: README).
 * The reference is the brute-force one (test/helpers/brute-reference.ts).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { offsetField, parseStoredState } from '../../src/stores/entity-state.ts';
import { bruteForceVectors, toHashVectors } from '../helpers/brute-reference.ts';
import { testEnv, testKafka, testRedisClient } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  ENGINE_OPTIONS,
  caughtUp,
  committedTotal,
  createScenario,
  produce,
  randomEvents,
  readTopics,
  readVectors,
  rng,
  spawnWorker,
  stopChild,
  type ChildWorker,
} from '../helpers/worker-fixtures.ts';

const WRITE_BEHIND = ['--co-partitioned', '--checkpoint-interval', '3600000', '--checkpoint-events', '100000000'];

describe('write-behind checkpoints', () => {
  it('a worker killed between checkpoints recovers with exact vectors', async () => {
    const { kafka, admin, createTopic } = await testKafka();
    const s = await createScenario(createTopic, 4);
    const redis = await testRedisClient(s.prefix);
    const topics = [s.topics.tx, s.topics.logins];
    const seed = Date.now() % 100_000;
    const random = rng(seed);
    const env = testEnv();
    const children: ChildWorker[] = [];
    onTestFinished(async () => {
      for (const c of children) await stopChild(c, 'SIGKILL');
    });
    const spawn = (args: string[]) => {
      const child = spawnWorker(s, env, args);
      children.push(child);
      return child;
    };
    const expectedNow = async () => toHashVectors(s.registry, bruteForceVectors(s.registry, await readTopics(kafka, admin, topics), Date.now(), ENGINE_OPTIONS));
    const served = async (ids: Iterable<string>) => readVectors(redis, s, ids);

    // 1. First backlog; commits wait for the checkpoint of the graceful stop.
    await produce(kafka, randomEvents(s, 1_500, 80, Date.now(), random));
    const first = spawn(WRITE_BEHIND);
    const expected1 = await expectedNow();
    await waitFor(`vectors of the first backlog (log ${first.logFile})`, async () => JSON.stringify([...(await served(expected1.keys()))]) === JSON.stringify([...expected1]), {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    expect(await committedTotal(admin, s.groupId, topics), 'commits wait for a checkpoint').toBe(0);
    expect(await stopChild(first, 'SIGTERM')).toBe(0);
    const checkpointed = await committedTotal(admin, s.groupId, topics);
    expect(await caughtUp(admin, s.groupId, topics), 'the stop checkpoints and commits everything').toBe(true);
    const ends = new Map<string, number>();
    for (const topic of topics) for (const p of await admin.fetchTopicOffsets(topic)) ends.set(offsetField(topic, p.partition), Number(p.high));

    // 2. Second backlog over the same users: vectors written, states and commits left at the checkpoint.
    const second = spawn(WRITE_BEHIND);
    await produce(kafka, randomEvents(s, 1_500, 80, Date.now(), random));
    const expected2 = await expectedNow();
    await waitFor(`vectors of the second backlog (log ${second.logFile})`, async () => JSON.stringify([...(await served(expected2.keys()))]) === JSON.stringify([...expected2]), {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    expect(await committedTotal(admin, s.groupId, topics), 'no checkpoint since the first').toBe(checkpointed);
    for (const id of expected2.keys()) {
      const key = s.keys.state({ entityType: 'user', entityId: id });
      const stored = parseStoredState(await redis.hgetallBuffer(key), key);
      for (const [field, offset] of stored.offsets) expect(offset, `${key} ${field} is past the checkpoint`).toBeLessThan(ends.get(field)!);
    }
    expect(await stopChild(second, 'SIGKILL')).toBeNull();

    // 3. Replay from the checkpoint, then the same vectors: nothing lost, nothing counted twice.
    const third = spawn(['--co-partitioned', '--checkpoint-interval', '500']);
    await waitFor(`the replay to checkpoint (log ${third.logFile})`, () => caughtUp(admin, s.groupId, topics), { timeoutMs: 90_000, intervalMs: 100 });
    expect(await served(expected2.keys()), `seed ${seed}`).toEqual(await expectedNow());
    expect(await stopChild(third, 'SIGTERM')).toBe(0);
  });
});
