/**
 * Redis loses everything (FLUSHALL on a private Redis; in the cluster pass the
 * run's own prefix deleted on every master of the shared Cluster, which must
 * never be flushed), rewarm rebuilds it from DynamoDB, more updates follow: the vectors, replay fences and
 * timers equal those of a twin run whose Redis was never lost (versions are
 * time-derived: restored ones equal DynamoDB's, not the twin's).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ensureRedis, redisProcess } from '../../scripts/services/redis.ts';
import { stopProcess } from '../../scripts/services/process.ts';
import { rewarm } from '../../src/sync/rewarm.ts';
import { SyncLayout } from '../../src/sync/snapshot.ts';
import { deleteMatching, isCluster, type RedisClient } from '../../src/stores/redis.ts';
import { onCluster, testDynamo, testRedisClient } from '../helpers/services.ts';
import { sparePort } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait.ts';
import { createSyncScenario, dynamoVectors, PARTITIONS, redisVectors, refs, startSync, users, type SyncScenario } from './sync-fixtures.ts';

async function stateOffsets(redis: RedisClient, s: SyncScenario, ids: string[]): Promise<Array<Record<string, string>>> {
  return Promise.all(
    ids.map(async (id) => {
      const hash = await redis.hgetall(s.keys.state({ entityType: 'user', entityId: id }));
      return Object.fromEntries(Object.entries(hash).filter(([f]) => f.startsWith('o:')).map(([f, v]) => [f.replace(/^o:[^:]+:/, 'o:'), v]));
    }),
  );
}

async function timerMembers(redis: RedisClient, s: SyncScenario): Promise<string[]> {
  const all = await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => redis.zrange(s.keys.timers(p), 0, -1).then((m) => m.map((x) => `${p}/${x}`))));
  return all.flat().sort();
}

async function keysOf(node: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  for await (const batch of node.scanStream({ match: pattern, count: 1_000 })) found.push(...(batch as string[]));
  return found;
}

/** The Redis that loses its data, and how it loses the scenario's keys. */
async function lossyRedis(): Promise<{ redis: RedisClient; overrides: Record<string, string>; lose: (s: SyncScenario) => Promise<void> }> {
  if (onCluster()) {
    const redis = await testRedisClient('fs-sync-');
    if (!isCluster(redis)) throw new Error('the cluster pass must hand out a Redis Cluster');
    const lose = async (s: SyncScenario) => {
      const masters = redis.nodes('master');
      await Promise.all(masters.map((node) => deleteMatching(node, `${s.prefix}*`)));
      const left = await Promise.all(masters.map((node) => keysOf(node, `${s.prefix}*`)));
      expect(left.flat()).toEqual([]);
    };
    return { redis, overrides: {}, lose };
  }
  const dir = mkdtempSync(join(tmpdir(), 'fs-redis-'));
  const private_ = { dir, port: await sparePort() };
  const url = await ensureRedis(private_, () => undefined);
  onTestFinished(() => stopProcess(redisProcess(private_), 3_000).then(() => undefined));
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  onTestFinished(() => redis.disconnect());
  const lose = async () => {
    await redis.flushall();
    expect(await redis.dbsize()).toBe(0);
  };
  return { redis, overrides: { REDIS_URL: url }, lose };
}

function features(vectors: Map<string, { features: Record<string, unknown> }>): Map<string, Record<string, unknown>> {
  return new Map([...vectors].map(([id, v]) => [id, v.features]));
}

describe('rewarm after Redis data loss', () => {
  it('restores Redis so later updates give the same vectors as a run that never lost Redis', async () => {
    const { redis: lost, overrides, lose } = await lossyRedis();
    const { client, table } = await testDynamo();

    const seed = 4242;
    const controlRedis = await testRedisClient('fs-sync-');
    const control = createSyncScenario(controlRedis, seed);
    const recovered = createSyncScenario(lost, seed, overrides);
    const ids = users(80);
    const rounds = (from: number, to: number) => Array.from({ length: to - from }, (_, r) => ids.filter((_, i) => (i + from + r) % 4 !== 0));

    const { queue } = await startSync(recovered, client, table);
    for (const touched of rounds(0, 5)) {
      await control.write(touched, 2);
      await queue.enqueue(1, refs(await recovered.write(touched, 2)));
    }
    await waitFor('DynamoDB to hold every entity', async () => (await queue.backlog()).depth === 0 && (await dynamoVectors(client, table, recovered)).size === ids.length);
    expect(await dynamoVectors(client, table, recovered)).toEqual(await redisVectors(lost, recovered, ids));
    const synced = await dynamoVectors(client, table, recovered);

    // One expired item and one of another keyspace version must be skipped.
    const expiredPk = recovered.keys.dynamoPk({ entityType: 'user', entityId: 'gone' });
    await client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: expiredPk }, version: { N: '3' }, updated_ms: { N: '1' }, expires_at: { N: '1000' } } }));
    const otherPk = recovered.keys.dynamoPk({ entityType: 'user', entityId: 'u1' }, 2);
    await client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: otherPk }, version: { N: '99' }, updated_ms: { N: String(Date.now()) }, expires_at: { N: '9999999999' } } }));

    await lose(recovered);
    const options = {
      redis: lost,
      dynamo: client,
      table,
      keys: recovered.keys,
      layout: new SyncLayout(recovered.registry),
      engine: recovered.engine,
      keyspaceVersion: 1,
      segments: 3,
      ratePerSec: 200,
    };
    const summary = await rewarm(options);
    expect(summary).toMatchObject({ restored: 80, restoredWithoutState: 0, skippedExpired: 1, skippedNewer: 0, skippedForeign: 1, failed: 0 });
    // Versions are time-derived, so the twin's differ; the restored ones are DynamoDB's exactly.
    expect(features(await redisVectors(lost, recovered, ids))).toEqual(features(await redisVectors(controlRedis, control, ids)));
    expect(await redisVectors(lost, recovered, ids)).toEqual(synced);
    expect(await stateOffsets(lost, recovered, ids)).toEqual(await stateOffsets(controlRedis, control, ids));
    expect(await timerMembers(lost, recovered)).toEqual(await timerMembers(controlRedis, control));

    // Re-running is harmless: Redis already holds every version.
    expect(await rewarm(options)).toMatchObject({ restored: 0, skippedNewer: 80 });

    for (const touched of rounds(5, 9)) {
      await control.write(touched, 1);
      await queue.enqueue(1, refs(await recovered.write(touched, 1)));
    }
    const after = await redisVectors(lost, recovered, ids);
    expect(features(after)).toEqual(features(await redisVectors(controlRedis, control, ids)));
    await waitFor('DynamoDB to catch up', async () => (await queue.backlog()).depth === 0);
    expect(await dynamoVectors(client, table, recovered)).toEqual(after);
  });
});
