/**
 * `featurestream worker --processes 2`: a supervisor with two worker processes
 * in one consumer group. Both join and share the partitions; a child SIGKILLed
 * mid-stream is re-forked and the vectors stay exact (brute-force reference);
 * /metrics sums the children; SIGTERM stops everything with exit code 0.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { bruteForceVectors, toHashVectors } from '../helpers/brute-reference.ts';
import { testEnv, testKafka, testRedisClient } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { ENGINE_OPTIONS, caughtUp, createScenario, produceOverTime, readTopics, readVectors, spawnWorker, stopChild } from '../helpers/worker-fixtures.ts';
import { alive } from '../../scripts/services/process.ts';

interface ChildInfo {
  process: number;
  pid?: number;
  ready: boolean;
  restarts: number;
}

async function probe(port: number): Promise<{ status: number; children: ChildInfo[] }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  const body = (await res.json()) as { children: ChildInfo[] };
  return { status: res.status, children: body.children };
}

describe('worker --processes', () => {
  it('shares the group between child processes, re-forks a killed one and stays exact', async () => {
    const { kafka, admin, createTopic } = await testKafka();
    const s = await createScenario(createTopic, 4);
    const redis = await testRedisClient(s.prefix);
    const topics = [s.topics.tx, s.topics.logins];
    const seed = Date.now() % 100_000;
    const primary = spawnWorker(s, testEnv(), ['--processes', '2']);
    onTestFinished(async () => {
      await stopChild(primary, 'SIGKILL');
    });

    const port = await waitFor(`the supervisor to report its port (log ${primary.logFile})`, async () => {
      const line = (await readFile(primary.logFile, 'utf8')).split('\n').find((l) => l.includes('"worker processes started"'));
      return line ? (JSON.parse(line) as { metricsPort: number }).metricsPort : undefined;
    });
    const first = await waitFor('both children ready', async () => {
      const p = await probe(port);
      return p.status === 200 ? p.children : undefined;
    });
    expect(first).toHaveLength(2);
    const pids = first.map((c) => c.pid!);
    expect(new Set(pids).size).toBe(2);
    expect(pids).not.toContain(primary.proc.pid);
    await waitFor('two members in the group', async () => (await admin.describeGroups([s.groupId])).groups[0]?.members.length === 2);

    const traffic = produceOverTime(kafka, s, { chunks: 30, perChunk: 100, users: 120, pauseMs: 100, seed });
    await waitFor('some progress', async () => (await admin.fetchOffsets({ groupId: s.groupId, topics })).some((t) => t.partitions.some((p) => Number(p.offset) > 0)));
    process.kill(pids[0]!, 'SIGKILL');
    const after = await waitFor('the killed child re-forked and ready', async () => {
      const p = await probe(port);
      const slot = p.children.find((c) => c.process === first[0]!.process)!;
      return p.status === 200 && slot.restarts === 1 && slot.pid !== pids[0] ? p.children : undefined;
    }, { timeoutMs: 60_000 });
    expect(alive(pids[0]!)).toBe(false);
    expect(after.find((c) => c.process === first[1]!.process)!.pid).toBe(pids[1]);
    await traffic;

    await waitFor(`the children to catch up (log ${primary.logFile})`, () => caughtUp(admin, s.groupId, topics), { timeoutMs: 90_000, intervalMs: 250 });
    const log = await readTopics(kafka, admin, topics);
    const now = Date.now();
    const expected = toHashVectors(s.registry, bruteForceVectors(s.registry, log, now, ENGINE_OPTIONS));
    expect(expected.size).toBeGreaterThan(100);
    expect(await readVectors(redis, s, expected.keys()), `brute-force reference, seed ${seed}`).toEqual(expected);

    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const consumed = metrics
      .split('\n')
      .filter((l) => l.startsWith('featurestream_worker_events_consumed_total{'))
      .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
    expect(consumed).toBeGreaterThan(0);

    const children = after.map((c) => c.pid!);
    expect(await stopChild(primary, 'SIGTERM')).toBe(0);
    for (const pid of children) expect(alive(pid), `child ${pid} stopped`).toBe(false);
  });
});
