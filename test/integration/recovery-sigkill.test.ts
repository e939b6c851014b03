/**
 * The Redis process is SIGKILLed mid-stream and restarted from its AOF with
 * `appendfsync everysec`, losing its last second of writes (entity states,
 * recovery marks, sync jobs) whose Kafka offsets may already be committed. A
 * SIGKILL alone loses nothing (the page cache survives the process), so the
 * AOF is cut back to a copy taken about a second before the kill, as an OS
 * crash would cut its un-fsynced tail. The worker sees the marks behind its
 * position, restores from DynamoDB and replays: every vector in Redis and
 * DynamoDB equals a twin's.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { describe, it, onTestFinished } from 'vitest';
import { ensureRedis, redisProcess } from '../../scripts/services/redis.ts';
import { killProcess, stopProcess } from '../../scripts/services/process.ts';
import { sparePort } from '../helpers/ports.ts';
import { testDynamo, testKafka, testRedis } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { committedTotal, createScenario, produceOverTime } from '../helpers/worker-fixtures.ts';
import { expectSameAsTwin, recoveries, startWorker, twinOf } from './recovery-fixtures.ts';

describe('recovery after Redis is SIGKILLed (appendfsync everysec)', () => {
  it('ends equal to a twin that never lost Redis', async () => {
    const server = { dir: mkdtempSync(join(tmpdir(), 'fs-redis-')), port: await sparePort(), args: ['--appendonly', 'yes', '--appendfsync', 'everysec'] };
    const url = await ensureRedis(server, () => undefined);
    onTestFinished(() => stopProcess(redisProcess(server), 3_000).then(() => undefined));
    const { kafka, admin, createTopic } = await testKafka();
    const s = await createScenario(createTopic, 4);
    const twin = twinOf(s);
    const shared = await testRedis(twin.prefix);
    const { client, table } = await testDynamo();
    const topics = [s.topics.tx, s.topics.logins];
    const seed = Date.now() % 100_000;

    await startWorker(s, { REDIS_URL: url, DYNAMODB_TABLE: table }).start();
    await startWorker(twin, { DYNAMODB_TABLE: table }).start();
    const traffic = produceOverTime(kafka, s, { chunks: 16, perChunk: 250, users: 120, pauseMs: 150, seed });

    const aof = join(server.dir, `redis-${server.port}`, 'appendonlydir');
    for (const atLeast of [800, 2_400]) {
      await waitFor(`${atLeast} events committed`, async () => (await committedTotal(admin, s.groupId, topics)) >= atLeast, { timeoutMs: 60_000 });
      const before = await recoveries();
      cpSync(aof, `${aof}.copy`, { recursive: true });
      const committed = await committedTotal(admin, s.groupId, topics);
      // Progress between the copy and the kill: those writes (and their commits) are what the restart loses.
      await waitFor('progress after the AOF copy', async () => (await committedTotal(admin, s.groupId, topics)) > committed + 100, { timeoutMs: 60_000 });
      await killProcess(redisProcess(server));
      rmSync(aof, { recursive: true, force: true });
      cpSync(`${aof}.copy`, aof, { recursive: true });
      rmSync(`${aof}.copy`, { recursive: true, force: true });
      await ensureRedis(server, () => undefined);
      await waitFor('the worker to see the rollback', async () => (await recoveries()) > before, { timeoutMs: 60_000 });
    }
    await traffic;
    const redis = new Redis(url, { maxRetriesPerRequest: 1 });
    onTestFinished(() => redis.disconnect());
    await expectSameAsTwin({ kafka, admin, dynamo: client, table, lossy: { s, redis, groupId: s.groupId }, twin: { s: twin, redis: shared, groupId: twin.groupId } }, seed);
  });
});
