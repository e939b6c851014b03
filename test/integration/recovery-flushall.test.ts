/**
 * Redis loses everything three times (FLUSHALL on a private Redis) while the worker
 * runs under load: the worker detects it from its recovery marks, restores
 * from DynamoDB, replays, and ends with every vector in Redis and DynamoDB
 * equal to a twin worker's whose Redis was never lost, and to the reference.
 */
import { Redis } from 'ioredis';
import { describe, it, onTestFinished } from 'vitest';
import { privateRedis } from '../helpers/private-services.ts';
import { testDynamo, testKafka, testRedis } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { committedTotal, createScenario, produceOverTime } from '../helpers/worker-fixtures.ts';
import { expectSameAsTwin, recoveries, startWorker, twinOf } from './recovery-fixtures.ts';

describe('recovery from FLUSHALL under load', () => {
  it('ends equal to a twin that never lost Redis', async () => {
    const { kafka, admin, createTopic } = await testKafka();
    const s = await createScenario(createTopic, 4);
    const twin = twinOf(s);
    const server = await privateRedis();
    const lost = new Redis(server.endpoint, { maxRetriesPerRequest: 1 });
    onTestFinished(() => lost.disconnect());
    const shared = await testRedis(twin.prefix);
    const { client, table } = await testDynamo();
    const topics = [s.topics.tx, s.topics.logins];
    const seed = Date.now() % 100_000;

    await startWorker(s, { REDIS_URL: server.endpoint, DYNAMODB_TABLE: table }).start();
    await startWorker(twin, { DYNAMODB_TABLE: table }).start();
    let producing = true;
    const traffic = produceOverTime(kafka, s, { chunks: 16, perChunk: 250, users: 120, pauseMs: 150, seed }).finally(() => (producing = false));

    // The third loss comes right after the second recovery, while its replay is still rebuilding
    // the entities written onto the emptied master (their DynamoDB items must not come back).
    for (const atLeast of [800, 2_400, 0]) {
      await waitFor(`${atLeast} events committed`, async () => (await committedTotal(admin, s.groupId, topics)) >= atLeast, { timeoutMs: 60_000 });
      const before = await recoveries();
      await lost.flushall();
      await waitFor('the worker to recover', async () => (await recoveries()) > before);
    }
    await traffic;
    if (producing) throw new Error('traffic did not finish');
    await expectSameAsTwin({ kafka, admin, dynamo: client, table, lossy: { s, redis: lost, groupId: s.groupId }, twin: { s: twin, redis: shared, groupId: twin.groupId } }, seed);
  });
});
