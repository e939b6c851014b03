/**
 * DynamoDB sync against real Redis and dynalite: items equal the Redis
 * vectors, and out-of-order or late jobs never move an item backwards.
 */
import { describe, expect, it } from 'vitest';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { testDynamo, testRedisClient } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { retryFailed } from '../../src/sync/dlq.ts';
import { syncMetrics } from '../../src/sync/metrics.ts';
import { createSyncScenario, dynamoVectors, redisVectors, refs, startSync, users } from './sync-fixtures.ts';

async function drained(queue: { backlog(): Promise<{ depth: number }> }): Promise<boolean> {
  return (await queue.backlog()).depth === 0;
}

describe('DynamoDB sync', () => {
  it('ships the current Redis vectors: every item equals its Redis vector, in one job per 1,000 refs', async () => {
    const redis = await testRedisClient('fs-sync-');
    const { client, table } = await testDynamo();
    const s = createSyncScenario(redis);
    const ids = await s.write(users(1_200), 3);
    const jobs: number[] = [];
    const { queue } = await startSync(s, client, table, { onJobDone: (_, job) => jobs.push(job.data.refs.length) });

    await queue.enqueue(1, refs(ids));
    const expected = await redisVectors(redis, s, ids);
    expect(expected.size).toBe(1_200);
    await waitFor('every item in DynamoDB', async () => (await dynamoVectors(client, table, s)).size === ids.length, { timeoutMs: 60_000 });
    await waitFor('the queue to drain', () => drained(queue));
    expect(await dynamoVectors(client, table, s)).toEqual(expected);
    expect(jobs.sort()).toEqual([1_000, 200]);
  });

  it('skips entities whose Redis keys expired, without failing the job', async () => {
    const redis = await testRedisClient('fs-sync-');
    const { client, table } = await testDynamo();
    const s = createSyncScenario(redis);
    const ids = await s.write(users(3), 1);
    await redis.unlink(s.keys.vector({ entityType: 'user', entityId: 'u1' }, 'features'));
    const { queue } = await startSync(s, client, table);
    const before = (await syncMetrics.expiredSkips.get()).values[0]?.value ?? 0;
    await queue.enqueue(1, refs(ids));
    await waitFor('the queue to drain', () => drained(queue));
    expect([...(await dynamoVectors(client, table, s)).keys()].sort()).toEqual(['u0', 'u2']);
    expect((await syncMetrics.expiredSkips.get()).values[0]?.value).toBe(before + 1);
    expect(await queue.queue.getFailedCount()).toBe(0);
  });

  it('a late job never overwrites a newer item', async () => {
    const redis = await testRedisClient('fs-sync-');
    const { client, table } = await testDynamo();
    const s = createSyncScenario(redis);
    await s.write(['u7'], 2);
    const current = (await redisVectors(redis, s, ['u7'])).get('u7')!;
    // A newer version reached DynamoDB first (e.g. a job enqueued later finished earlier).
    const pk = s.keys.dynamoPk({ entityType: 'user', entityId: 'u7' });
    const newer = { pk: { S: pk }, version: { N: String(current.version + 5) }, updated_ms: { N: '1' }, expires_at: { N: '9999999999' }, tx_count_24h: { N: '999' } };
    await client.send(new PutItemCommand({ TableName: table, Item: newer }));
    const { queue } = await startSync(s, client, table);
    const skipsBefore = (await syncMetrics.conditionalSkips.get()).values[0]?.value ?? 0;
    await queue.enqueue(1, refs(['u7']));
    await waitFor('the queue to drain', () => drained(queue));
    const item = await client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: pk } }, ConsistentRead: true }));
    expect(item.Item).toEqual(newer);
    expect((await syncMetrics.conditionalSkips.get()).values[0]?.value).toBe(skipsBefore + 1);
    expect(await queue.queue.getFailedCount()).toBe(0);
  });

  it('replaces an expired item whatever its version: an entity back after its TTL syncs again', async () => {
    const redis = await testRedisClient('fs-sync-');
    const { client, table } = await testDynamo();
    const s = createSyncScenario(redis);
    await s.write(['u8'], 1);
    const pk = s.keys.dynamoPk({ entityType: 'user', entityId: 'u8' });
    // Expired a minute ago but not yet deleted by DynamoDB, from the entity's previous life.
    const stale = { pk: { S: pk }, version: { N: '1000' }, updated_ms: { N: '1' }, expires_at: { N: String(Math.floor(Date.now() / 1000) - 60) } };
    await client.send(new PutItemCommand({ TableName: table, Item: stale }));
    const { queue } = await startSync(s, client, table);
    await queue.enqueue(1, refs(['u8']));
    await waitFor('the queue to drain', () => drained(queue));
    expect(await dynamoVectors(client, table, s)).toEqual(await redisVectors(redis, s, ['u8']));
  });

  it('concurrent jobs over changing entities never regress an item and converge to Redis', async () => {
    const redis = await testRedisClient('fs-sync-');
    const { client, table } = await testDynamo();
    const s = createSyncScenario(redis);
    const ids = users(60);
    const { queue } = await startSync(s, client, table, { concurrency: 8, writeConcurrency: 16 });
    const seen = new Map<string, number>();
    const regressions: string[] = [];
    let watching = true;
    // Watches DynamoDB while jobs complete in any order: an item's version may only grow.
    const watcher = (async () => {
      while (watching) {
        for (const [id, v] of await dynamoVectors(client, table, s)) {
          if (v.version < (seen.get(id) ?? 0)) regressions.push(`${id}: ${seen.get(id)} -> ${v.version}`);
          seen.set(id, Math.max(v.version, seen.get(id) ?? 0));
        }
      }
    })();
    for (let round = 0; round < 25; round++) {
      const touched = ids.filter((_, i) => (i + round) % 3 !== 0);
      await s.write(touched, 1);
      // Several small jobs per round, so the 8 concurrent slots interleave them.
      for (let i = 0; i < touched.length; i += 10) await queue.enqueue(1, refs(touched.slice(i, i + 10)));
    }
    await waitFor('the queue to drain', () => drained(queue), { timeoutMs: 60_000 });
    watching = false;
    await watcher;
    expect(regressions).toEqual([]);
    expect(await dynamoVectors(client, table, s)).toEqual(await redisVectors(redis, s, ids));
  });

  it('dead-letters a job that can never succeed, and dlq retry re-drives it', async () => {
    const redis = await testRedisClient('fs-sync-');
    const { client, table } = await testDynamo();
    const s = createSyncScenario(redis);
    await s.write(['u1'], 1);
    const { queue } = await startSync(s, client, table);
    // An entity type the registry does not know: permanent, so no retries are spent on it.
    await queue.enqueue(1, [{ entityType: 'ghost', entityId: 'g1' }, ...refs(['u1'])]);
    await waitFor('the job to be dead-lettered', async () => (await queue.queue.getFailedCount()) === 1);
    const [failed] = await queue.queue.getFailed();
    expect(failed!.attemptsMade).toBe(1);
    // Narrowed to what failed: a re-drive does not redo u1.
    expect(failed!.data.refs).toEqual([['ghost', 'g1']]);
    expect([...(await dynamoVectors(client, table, s)).keys()]).toEqual(['u1']);
    expect(await retryFailed(queue.queue)).toBe(1);
    await waitFor('the re-driven job to fail again', async () => (await queue.queue.getFailedCount()) === 1 && (await queue.backlog()).depth === 0);
  });
});
