/**
 * The packed layout's batch reads: one MGET on a single node
 * (serving/redis-batch.ts), one script call per master on a Cluster
 * (serving/packed-script.ts, stores/lua/read-packed-1.lua). What they serve
 * must be exactly what was written, whatever happens to the script.
 * References are the written values themselves, not another read path.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Cluster, Redis, type ClusterOptions } from 'ioredis';
import type { RedisClusterHandle } from '../../scripts/services/redis-cluster.ts';
import { Registry as MetricsRegistry } from 'prom-client';
import { createFeatureReader, type FeatureReaderOptions } from '../../src/index.ts';
import { Keys } from '../../src/stores/keys.ts';
import { isCluster, type RedisClient } from '../../src/stores/redis.ts';
import { randomName } from '../helpers/names.ts';
import { privateRedis, privateRedisCluster } from '../helpers/private-services.ts';
import { testRedisClient } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { metricValue, seedUsers, testConfig, type UserValues } from './reader-fixtures.ts';

const requestTimeMs = Date.UTC(2026, 2, 15, 13, 30);

async function setup(redis: RedisClient, prefix: string, extra: Partial<FeatureReaderOptions<typeof testConfig>> = {}) {
  const keys = new Keys({ prefix, hashTags: isCluster(redis) });
  const metrics = new MetricsRegistry();
  const reader = createFeatureReader({ registry: testConfig, redis, dynamodb: false, keys, metrics, cache: false, deadlineMs: 2_000, ...extra });
  onTestFinished(() => reader.close());
  const reads = (path: 'mget' | 'script' | 'script_fallback') => metricValue(metrics, 'featurestream_reader_redis_reads_total', { path });
  return { keys, metrics, reader, reads };
}

/** Every stored type, at awkward values; some users lack a group or every group. */
function users(n: number): Array<[string, UserValues]> {
  return Array.from({ length: n }, (_, i): [string, UserValues] => {
    const values: UserValues = {
      tx_count_1h: i * 1_000_003 - 7,
      tx_sum_1h: -(i + 1) / 3,
      recent_merchants: i % 4 === 0 ? [] : Array.from({ length: (i % 3) + 1 }, (_, k) => `m${i}-${k}-ü€`),
    };
    if (i % 5 !== 1) {
      values.created_at = requestTimeMs - i * 86_400_000;
      values.country = i % 2 === 0 ? `c${i}` : 'Ελλάδα — a longer country name than twelve bytes';
      values.embedding = new Float32Array([i + 0.25, -(i + 1)]);
    }
    return [`u${i}`, values];
  });
}

const DEFAULTS = { created_at: 0, country: 'unknown', embedding: new Float32Array([0, 0]) };

function expectServed(vector: { features: Record<string, unknown>; source: string }, values: UserValues): void {
  const hasProfile = values.country !== undefined;
  expect(vector.source).toBe('redis');
  expect(vector.features).toEqual({
    tx_count_1h: values.tx_count_1h,
    tx_sum_1h: values.tx_sum_1h,
    recent_merchants: values.recent_merchants,
    created_at: hasProfile ? values.created_at : DEFAULTS.created_at,
    country: hasProfile ? values.country : DEFAULTS.country,
    embedding: hasProfile ? values.embedding : DEFAULTS.embedding,
    account_age_days: hasProfile ? Math.floor((requestTimeMs - (values.created_at as number)) / 86_400_000) : -1,
    hour_of_day: 13,
  });
}

describe('reader: packed read by one MGET (single node) or one script call per master (Cluster)', () => {
  it('round-trips every feature type and serves defaults for missing entities, by script only', async () => {
    const prefix = `${randomName('fs-script')}:`;
    const redis = await testRedisClient(prefix);
    const { keys, reader, reads } = await setup(redis, prefix);
    const written = users(120);
    await seedUsers(redis, keys, written);
    const ids = [...written.map(([id]) => id), 'nobody1', 'nobody2'];

    const vectors = await reader.getMany('user', ids, { requestTimeMs });

    written.forEach(([, values], i) => expectServed(vectors[i]!, values));
    for (const missing of vectors.slice(written.length)) {
      expect(missing).toMatchObject({ source: 'default', features: { tx_count_1h: 0, country: 'unknown', recent_merchants: [] } });
      expect(missing.defaulted).toHaveLength(6);
    }
    // One script call per master the batch touched on a Cluster, one MGET on a single node; no pipeline fallback.
    if (isCluster(redis)) expect(await reads('script')).toBe(redis.nodes('master').length);
    else expect(await reads('mget')).toBe(1);
    expect(await reads('script_fallback')).toBe(0);
  });

  it('counts a corrupt blob and a wrong-type key as corrupt and serves those groups\' defaults', async () => {
    const prefix = `${randomName('fs-script')}:`;
    const redis = await testRedisClient(prefix);
    const { keys, metrics, reader, reads } = await setup(redis, prefix);
    await seedUsers(redis, keys, [
      ['u1', { tx_count_1h: 1, tx_sum_1h: 2.5, country: 'FR' }],
      ['u2', { tx_count_1h: 2, country: 'DE' }],
      ['u3', { tx_count_1h: 3, country: 'IT' }],
    ]);
    const key = (id: string, group: string) => keys.vector({ entityType: 'user', entityId: id }, group);
    const blob = (await redis.getBuffer(key('u1', 'velocity')))!;
    await redis.set(key('u1', 'velocity'), blob.subarray(0, blob.length - 1), 'KEEPTTL');
    await redis.set(key('u2', 'velocity'), Buffer.from([0xff, 0, 1, 2]), 'KEEPTTL');
    await redis.del(key('u3', 'profile'));
    await redis.set(key('u3', 'profile'), 'wrong type');

    const [u1, u2, u3] = await reader.getMany('user', ['u1', 'u2', 'u3']);

    expect(u1).toMatchObject({ source: 'redis', features: { tx_count_1h: 0, tx_sum_1h: 0, recent_merchants: [], country: 'FR' } });
    expect(u2).toMatchObject({ source: 'redis', features: { tx_count_1h: 0, country: 'DE' } });
    expect(u3).toMatchObject({ source: 'redis', features: { tx_count_1h: 3, country: 'unknown', created_at: 0 } });
    expect([...u3!.defaulted].sort()).toEqual(['country', 'created_at', 'embedding', 'recent_merchants', 'tx_sum_1h']);
    // 3 + 3 velocity values from the bad blobs, 3 profile values from the wrong-type key.
    expect(await metricValue(metrics, 'featurestream_reader_defaulted_values_total', { reason: 'corrupt' })).toBe(9);
    expect(await reads(isCluster(redis) ? 'script' : 'mget')).toBeGreaterThanOrEqual(1);
    expect(await reads('script_fallback')).toBe(0);
  });

  it('reads a single node by MGET, which needs no scripting (ACL without @scripting), same vectors', async () => {
    const server = await privateRedis();
    const admin = new Redis(server.endpoint, { maxRetriesPerRequest: 1 });
    onTestFinished(() => admin.disconnect());
    await admin.acl('SETUSER', 'noscripts', 'on', '>pw', '~*', '+@all', '-@scripting');
    const redis = new Redis(server.endpoint, { username: 'noscripts', password: 'pw', maxRetriesPerRequest: 1 });
    onTestFinished(() => redis.disconnect());
    const { keys, reader, reads } = await setup(redis, 'fs-acl:');
    const written = users(20);
    await seedUsers(admin, keys, written);
    const vectors = await reader.getMany('user', written.map(([id]) => id), { requestTimeMs });
    written.forEach(([, values], i) => expectServed(vectors[i]!, values));
    expect(await reads('mget')).toBe(1);
    expect(await reads('script') + (await reads('script_fallback'))).toBe(0);
  });
});

describe('reader: the Cluster script under faults (a private 3-master Cluster)', () => {
  let cluster: RedisClusterHandle;
  const nodes = () => cluster.seeds.map((hp) => ({ host: hp.split(':')[0]!, port: Number(hp.split(':')[1]) }));

  beforeAll(async () => {
    cluster = await privateRedisCluster({ masters: 3, replicasPerMaster: 0 });
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  async function clusterClient(options: ClusterOptions = {}): Promise<Cluster> {
    const client = new Cluster(nodes(), { ...options, redisOptions: { maxRetriesPerRequest: 1, ...options.redisOptions } });
    onTestFinished(() => client.disconnect());
    await waitFor('cluster client ready', () => client.status === 'ready');
    return client;
  }

  it('stays correct when the scripts are flushed between calls (NOSCRIPT: the body is sent again)', async () => {
    const redis = await clusterClient();
    const prefix = `${randomName('fs-flush')}:`;
    const { keys, reader, reads } = await setup(redis, prefix);
    const written = users(30);
    await seedUsers(redis, keys, written);
    const ids = written.map(([id]) => id);
    const masters = redis.nodes('master');
    for (let round = 0; round < 3; round++) {
      const vectors = await reader.getMany('user', ids, { requestTimeMs });
      written.forEach(([, values], i) => expectServed(vectors[i]!, values));
      for (const master of masters) expect(await master.script('FLUSH')).toBe('OK');
    }
    // 30 users hash to all 3 masters: one call per master per round.
    expect(await reads('script')).toBe(3 * masters.length);
    expect(await reads('script_fallback')).toBe(0);
  });

  it('reads by pipeline when Redis refuses the script (ACL without EVAL/EVALSHA), same vectors', async () => {
    const admin = await clusterClient();
    for (const master of admin.nodes('master')) await master.acl('SETUSER', 'noscripts', 'on', '>pw', '~*', '+@all', '-@scripting');
    const redis = await clusterClient({ redisOptions: { username: 'noscripts', password: 'pw' } });
    const prefix = `${randomName('fs-acl')}:`;
    const { keys, reader, reads } = await setup(redis, prefix);
    const written = users(20);
    await seedUsers(admin, keys, written);
    const ids = written.map(([id]) => id);
    for (let round = 0; round < 2; round++) {
      const vectors = await reader.getMany('user', ids, { requestTimeMs });
      written.forEach(([, values], i) => expectServed(vectors[i]!, values));
    }
    // Refused once per master (the first call goes to all of them at once), then pipelines only
    // for a while: the refusal is not paid on every call.
    expect(await reads('script_fallback')).toBe(redis.nodes('master').length);
    expect(await reads('script')).toBe(0);
    expect(reader.breakerState).toBe('closed');
  });
});
