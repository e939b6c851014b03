import { describe, expect, expectTypeOf, it, vi } from 'vitest';
import { EntityIdError } from '../../src/errors.ts';
import { isCluster } from '../../src/stores/redis.ts';
import { testDynamo } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { metricValue, putDynamoUser, seedUsers, testReader } from './reader-fixtures.ts';

const DAY = 86_400_000;
const requestTimeMs = Date.UTC(2026, 2, 15, 13, 30);

const setup = (extra: Parameters<typeof testReader>[1] = {}) => testReader('fs-reader', extra);

describe('reader round trip', () => {
  it('decodes typed values, fills defaults on a miss and computes on-demand features at the request time', async () => {
    const { redis, keys, reader } = await setup();
    const writtenAt = Date.now() - 1_000;
    await seedUsers(
      redis,
      keys,
      [
        ['u1', { tx_count_1h: 14, tx_sum_1h: 892.5, recent_merchants: ['m1', 'm2'], created_at: requestTimeMs - 10 * DAY - 5, country: 'FR', embedding: new Float32Array([0.5, -1.5]) }],
        ['u2', { tx_count_1h: 3 }],
      ],
      { version: 7, updatedMs: writtenAt },
    );

    const [u1, u2, u3] = await reader.getMany('user', ['u1', 'u2', 'u3'], { requestTimeMs });

    expect(u1).toMatchObject({ entityId: 'u1', source: 'redis', defaulted: [], version: 7 });
    expect(u1!.features).toEqual({
      tx_count_1h: 14,
      tx_sum_1h: 892.5,
      recent_merchants: ['m1', 'm2'],
      created_at: requestTimeMs - 10 * DAY - 5,
      country: 'FR',
      embedding: new Float32Array([0.5, -1.5]),
      account_age_days: 10,
      hour_of_day: 13,
    });
    expect(u1!.ageMs).toBeGreaterThanOrEqual(1_000);
    expect(u1!.ageMs).toBeLessThan(60_000);

    // u2 has one field in one group: everything else is the training-time default.
    expect(u2).toMatchObject({ source: 'redis', features: { tx_count_1h: 3, tx_sum_1h: 0, recent_merchants: [], country: 'unknown', embedding: new Float32Array([0, 0]) } });
    expect([...u2!.defaulted].sort()).toEqual(['country', 'created_at', 'embedding', 'recent_merchants', 'tx_sum_1h']);

    expect(u3).toMatchObject({ entityId: 'u3', source: 'default', ageMs: undefined, features: { tx_count_1h: 0, country: 'unknown', hour_of_day: 13 } });
    expect(u3!.defaulted).toHaveLength(6);
    expect(u3!.version).toBeUndefined();

    // Compile-time: vectors are typed from the defineConfig registry, per entity type.
    expectTypeOf(u1!.features.tx_count_1h).toEqualTypeOf<number>();
    expectTypeOf(u1!.features.country).toEqualTypeOf<string>();
    expectTypeOf(u1!.features.recent_merchants).toEqualTypeOf<readonly string[]>();
    expectTypeOf(u1!.features.embedding).toEqualTypeOf<Float32Array>();
    expectTypeOf(u1!.features.account_age_days).toEqualTypeOf<number>();
    expectTypeOf(u1!.features).not.toHaveProperty('merchant_tx_1h');
    const merchant = await reader.get('merchant', 'm1');
    expectTypeOf(merchant.features).toEqualTypeOf<{ readonly merchant_tx_1h: number }>();
    expect(merchant.features).toEqual({ merchant_tx_1h: 0 });
  });

  it('reads every group of every entity in one MGET, packed (one script call per master on a Cluster), or one pipeline, per field', async () => {
    const { redis, keys, reader, metrics } = await setup();
    const ids = Array.from({ length: 200 }, (_, i) => `u${i}`);
    await seedUsers(redis, keys, ids.map((id, i) => [id, { tx_count_1h: i, country: `c${i}` }]));
    const pipelines = vi.spyOn(redis, 'pipeline');
    const vectors = await reader.getMany('user', ids);
    // 200 entities hit every master of a 3-master Cluster.
    const nodes = isCluster(redis) ? redis.nodes('master').length : 1;
    expect(await metricValue(metrics, 'featurestream_reader_redis_reads_total', { path: isCluster(redis) ? 'script' : 'mget' })).toBe(nodes);
    expect(pipelines).not.toHaveBeenCalled();
    expect(vectors.map((v) => [v.features.tx_count_1h, v.features.country])).toEqual(ids.map((_, i) => [i, `c${i}`]));

    // Version 2 recorded per field: HMGET in a pipeline per node.
    await redis.hset(keys.layouts(), '2', 'per-field');
    await seedUsers(redis, keys, ids.map((id, i) => [id, { tx_count_1h: i + 1, country: `f${i}` }]), { layout: 'fields', keyspaceVersion: 2 });
    await redis.set(keys.activeVersion(), '2');
    await waitFor('reader to switch to keyspace v2', async () => (await reader.get('user', 'u0')).features.tx_count_1h === 1);
    pipelines.mockClear();
    const perField = await reader.getMany('user', ids);
    expect(pipelines).toHaveBeenCalledTimes(nodes);
    expect(perField.map((v) => [v.features.tx_count_1h, v.features.country])).toEqual(ids.map((_, i) => [i + 1, `f${i}`]));
  });

  it('serves a version recorded as packed hashes (`+packed`, before packed vectors were strings) by HGET of `_p`, every type, corrupt blobs counted', async () => {
    const { redis, keys, reader, metrics } = await setup();
    await redis.hset(keys.layouts(), '1', 'legacy+packed');
    const created = requestTimeMs - 3 * DAY;
    await seedUsers(
      redis,
      keys,
      [
        ['u1', { tx_count_1h: 9, tx_sum_1h: -0.125, recent_merchants: ['m1', 'm€2'], created_at: created, country: 'Ελλάδα', embedding: new Float32Array([0.25, -2]) }],
        ['u2', { tx_count_1h: 2, country: 'DE' }],
      ],
      { layout: 'packed-hash', version: 4 },
    );
    expect(await redis.type(keys.vector({ entityType: 'user', entityId: 'u1' }, 'velocity'))).toBe('hash');
    await redis.hset(keys.vector({ entityType: 'user', entityId: 'u2' }, 'velocity'), '_p', Buffer.from([0xff, 1]));

    const [u1, u2, u3] = await reader.getMany('user', ['u1', 'u2', 'u3'], { requestTimeMs });

    expect(u1).toMatchObject({ source: 'redis', defaulted: [], version: 4 });
    expect(u1!.features).toEqual({
      tx_count_1h: 9,
      tx_sum_1h: -0.125,
      recent_merchants: ['m1', 'm€2'],
      created_at: created,
      country: 'Ελλάδα',
      embedding: new Float32Array([0.25, -2]),
      account_age_days: 3,
      hour_of_day: 13,
    });
    expect(u2).toMatchObject({ source: 'redis', features: { tx_count_1h: 0, tx_sum_1h: 0, recent_merchants: [], country: 'DE' } });
    expect(u3).toMatchObject({ source: 'default' });
    expect(await metricValue(metrics, 'featurestream_reader_defaulted_values_total', { reason: 'corrupt' })).toBe(3);
  });

  it('serves a corrupt packed blob or a wrong-type key as that group\'s defaults and counts them', async () => {
    const { redis, keys, metrics, reader } = await setup();
    await seedUsers(redis, keys, [['u1', { tx_count_1h: 1, tx_sum_1h: 2.5, country: 'FR' }]]);
    const velocity = keys.vector({ entityType: 'user', entityId: 'u1' }, 'velocity');
    const blob = (await redis.getBuffer(velocity))!;
    await redis.set(velocity, blob.subarray(0, blob.length - 1), 'KEEPTTL');
    await redis.set(keys.vector({ entityType: 'user', entityId: 'u1' }, 'profile'), 'wrong type');

    const u1 = await reader.get('user', 'u1');

    expect(u1.source).toBe('redis');
    expect(u1.features).toMatchObject({ tx_count_1h: 0, tx_sum_1h: 0, recent_merchants: [], country: 'unknown' });
    expect(u1.defaulted).toHaveLength(6);
    expect(await metricValue(metrics, 'featurestream_reader_defaulted_values_total', { reason: 'corrupt' })).toBe(6);
  });

  it('serves the default for a corrupt value or key and counts it (per-field layout)', async () => {
    const { redis, keys, metrics, reader } = await setup();
    // Version 1 recorded in the per-field layout (a fingerprint without the packed mark), seeded so.
    await redis.hset(keys.layouts(), '1', 'per-field');
    await seedUsers(redis, keys, [['u1', { tx_count_1h: 1, tx_sum_1h: 2.5 }]], { layout: 'fields' });
    await redis.hset(keys.vector({ entityType: 'user', entityId: 'u1' }, 'velocity'), 'tx_count_1h', 'not-a-number');
    await redis.set(keys.vector({ entityType: 'user', entityId: 'u1' }, 'profile'), 'wrong type');

    const u1 = await reader.get('user', 'u1');

    expect(u1.source).toBe('redis');
    expect(u1.features).toMatchObject({ tx_count_1h: 0, tx_sum_1h: 2.5, country: 'unknown' });
    expect([...u1.defaulted].sort()).toEqual(['country', 'created_at', 'embedding', 'recent_merchants', 'tx_count_1h']);
    expect(await metricValue(metrics, 'featurestream_reader_defaulted_values_total', { reason: 'corrupt' })).toBe(4);
    expect(await metricValue(metrics, 'featurestream_reader_defaulted_values_total', { reason: 'missing' })).toBe(1);
  });

  it('follows the active keyspace version', async () => {
    const { redis, keys, reader } = await setup({ activeVersionTtlMs: 50 });
    await seedUsers(redis, keys, [['u1', { tx_count_1h: 1 }]]);
    await seedUsers(redis, keys, [['u1', { tx_count_1h: 2 }]], { keyspaceVersion: 2 });
    expect((await reader.get('user', 'u1')).features.tx_count_1h).toBe(1);
    await redis.set(keys.activeVersion(), '2');
    await waitFor('reader to switch to keyspace v2', async () => (await reader.get('user', 'u1')).features.tx_count_1h === 2);
  });

  it('reads DynamoDB on request, on a Redis miss with read-through, and treats expired items as missing', async () => {
    const { client, table } = await testDynamo();
    const { redis, keys, reader } = await setup({ dynamodb: { client, table }, readThrough: true });
    await seedUsers(redis, keys, [['u1', { tx_count_1h: 1 }]]);
    await putDynamoUser(client, table, keys, 'u1', { tx_count_1h: 10 }, { version: 3 });
    await putDynamoUser(client, table, keys, 'u2', { tx_count_1h: 20, country: 'DE', embedding: new Float32Array([1, 2]) });
    await putDynamoUser(client, table, keys, 'u3', { tx_count_1h: 30 }, { expiresAtMs: Date.now() - 1_000 });

    expect(await reader.get('user', 'u1')).toMatchObject({ source: 'redis', features: { tx_count_1h: 1 } });
    expect(await reader.get('user', 'u1', { source: 'dynamodb' })).toMatchObject({ source: 'dynamodb', version: 3, features: { tx_count_1h: 10 } });
    const [u2, u3] = await reader.getMany('user', ['u2', 'u3']);
    expect(u2).toMatchObject({ source: 'dynamodb', features: { tx_count_1h: 20, country: 'DE', embedding: new Float32Array([1, 2]), tx_sum_1h: 0 } });
    expect([...u2!.defaulted].sort()).toEqual(['created_at', 'recent_merchants', 'tx_sum_1h']);
    expect(u3).toMatchObject({ source: 'default', features: { tx_count_1h: 0 } });
  });

  it('refuses ids that could address another key (a rejected row in a batch, unless strict), and unknown entity types', async () => {
    const { reader } = await setup();
    for (const bad of ['a:b', '{u1}', 'u 1', 'u\n1', 'x#y', '', 'x'.repeat(129)]) {
      await expect(reader.get('user', bad)).rejects.toThrow(EntityIdError);
    }
    await expect(reader.getMany('user', ['ok', 'u1:velocity'], { strict: true })).rejects.toThrow(EntityIdError);
    const [ok, bad] = await reader.getMany('user', ['ok', 'u1:velocity']);
    expect(ok).toMatchObject({ entityId: 'ok', source: 'default' });
    expect(bad).toMatchObject({ entityId: 'u1:velocity', source: 'invalid', features: {}, error: { code: 'ENTITY_ID_INVALID' } });
    // @ts-expect-error not an entity type of the registry
    await expect(reader.get('account', 'u1')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
