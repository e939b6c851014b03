/**
 * Entities a batch wrote onto a master that had just lost its data
 * (suspects: their states miss their history) must not come back from
 * DynamoDB in any later recovery. Their item there may be that state, shipped
 * by the sync; a second loss before the replay's rebuild reached DynamoDB
 * used to restore it, fences and all, so the replay skipped the history the
 * state missed (recovery-flushall.test.ts: counts short after two FLUSHALLs).
 */
import { describe, expect, it } from 'vitest';
import { restoreFromDynamo } from '../../src/consumers/recovery-restore.ts';
import { createLogger } from '../../src/logger.ts';
import { deleteMatching, isCluster, type RedisClient } from '../../src/stores/redis.ts';
import { testDynamo, testRedisClient } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { createSyncScenario, dynamoVectors, redisVectors, refs, startSync, users, type SyncScenario } from './sync-fixtures.ts';

/** The scenario's keys gone from every master, as after a FLUSHALL (the shared Redis is never flushed). */
async function lose(redis: RedisClient, s: SyncScenario): Promise<void> {
  const nodes = isCluster(redis) ? redis.nodes('master') : [redis];
  await Promise.all(nodes.map((node) => deleteMatching(node, `${s.prefix}*`)));
}

describe('recovery suspects', () => {
  it('are deleted from DynamoDB, so a second loss does not restore them', async () => {
    const redis = await testRedisClient('fs-suspects-');
    const { client, table } = await testDynamo();
    const s = createSyncScenario(redis);
    const ids = users(12);
    const { queue } = await startSync(s, client, table);
    await queue.enqueue(1, refs(await s.write(ids, 3)));
    await waitFor('DynamoDB to hold every entity', async () => (await queue.backlog()).depth === 0 && (await dynamoVectors(client, table, s)).size === ids.length);

    const suspects = ['u3', 'u7'];
    const deps = { redis, keys: s.keys, registry: s.registry, engine: s.engine, dynamo: client, table, clock: Date.now, logger: createLogger({ level: 'warn' }) };
    const others = ids.filter((id) => !suspects.includes(id));
    await lose(redis, s);
    // The first recovery: the suspects are rebuilt from Kafka, the others restored.
    expect((await restoreFromDynamo(deps, refs(suspects).map((ref) => ({ ref, version: 1 })))).summary).toMatchObject({ restored: others.length, failed: 0 });
    expect([...(await redisVectors(redis, s, ids)).keys()].sort()).toEqual([...others].sort());
    expect([...(await dynamoVectors(client, table, s)).keys()].sort()).toEqual([...others].sort());

    // A second loss before the replay rewrote them: they stay for the replay to rebuild.
    await lose(redis, s);
    expect((await restoreFromDynamo(deps, [])).summary).toMatchObject({ restored: others.length, failed: 0 });
    expect([...(await redisVectors(redis, s, ids)).keys()].sort()).toEqual([...others].sort());
  });
});
