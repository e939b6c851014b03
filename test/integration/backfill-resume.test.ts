/**
 * A bounded backfill (--to) in a child process is SIGKILLed midway and run
 * again with the same command: it resumes the same version from its own
 * commits and ends with exactly the reference vectors; the pointer never moves.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { referenceVectors } from '../helpers/reference.ts';
import { testEnv, testKafka, testRedisClient } from '../helpers/services.ts';
import { randomName } from '../helpers/names.ts';
import { waitFor } from '../helpers/wait.ts';
import { ENGINE_OPTIONS, committedTotal, createScenario, produce, randomEvents, readTopics, readVectors, rng } from '../helpers/worker-fixtures.ts';
import { spawnBackfill, withNewFeature, type ChildBackfill } from './backfill-fixtures.ts';

describe('backfill resume', () => {
  it('ends identical after a kill -9 midway', async () => {
    const { kafka, admin, createTopic } = await testKafka();
    const s = await createScenario(createTopic, 4);
    const redis = await testRedisClient(s.prefix);
    const topics = [s.topics.tx, s.topics.logins];
    const seed = Date.now() % 100_000;
    await produce(kafka, randomEvents(s, 3_000, 150, Date.now(), rng(seed)));
    const v2 = withNewFeature(s);
    const group = randomName('fs-backfill');
    const args = ['--from', 'earliest', '--to', new Date().toISOString(), '--config', v2.configFile, '--group', group, '--rate', '1500'];
    const children: ChildBackfill[] = [];
    onTestFinished(async () => {
      for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    });

    const first = spawnBackfill(s, testEnv(), args);
    children.push(first);
    await waitFor(`the first backfill to commit (log ${first.logFile})`, async () => (await committedTotal(admin, group, topics)) > 0, {
      timeoutMs: 60_000,
      intervalMs: 50,
    });
    await new Promise((r) => setTimeout(r, Math.floor(rng(seed + 1)() * 800)));
    first.proc.kill('SIGKILL');
    await first.exited;
    const total = (await readTopics(kafka, admin, topics)).length;
    expect(await committedTotal(admin, group, topics)).toBeLessThan(total);

    const second = spawnBackfill(s, testEnv(), args);
    children.push(second);
    expect(await second.exited, `log ${second.logFile}`).toBe(0);
    const summary = JSON.parse(second.stdout()) as { version: number; resumed: boolean; completed: boolean; switched: boolean };
    expect(summary).toMatchObject({ version: 2, resumed: true, completed: true, switched: false });

    const expected = referenceVectors(v2.registry, await readTopics(kafka, admin, topics), Date.now(), ENGINE_OPTIONS);
    expect(await readVectors(redis, { registry: v2.registry, keys: s.keys }, expected.keys(), 2), `seed ${seed}`).toEqual(expected);
    expect(await redis.get(s.keys.activeVersion())).toBeNull();
    expect(await redis.get(s.keys.backfill())).toBeNull();
  });
});
