import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { Registry as MetricsRegistry } from 'prom-client';
import { createFeatureReader, type FeatureReaderOptions } from '../../src/index.ts';
import { Keys } from '../../src/stores/keys.ts';
import { randomName } from '../helpers/names.ts';
import { onCluster, testRedisClient } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { metricValue, seedUsers, testConfig } from './reader-fixtures.ts';

async function setup(extra: Partial<FeatureReaderOptions<typeof testConfig>>) {
  const prefix = `${randomName('fs-cache')}:`;
  const redis = await testRedisClient(prefix);
  const keys = new Keys({ prefix, hashTags: onCluster() });
  const metrics = new MetricsRegistry();
  const reader = createFeatureReader({ registry: testConfig, redis, dynamodb: false, keys, metrics, deadlineMs: 1_000, ...extra });
  onTestFinished(() => reader.close());
  const cache = (result: string) => metricValue(metrics, 'featurestream_reader_cache_total', { result });
  return { redis, keys, metrics, reader, cache };
}

describe('reader cache', () => {
  it('serves from the cache until the TTL passes, then reads Redis again', async () => {
    const { redis, keys, reader, cache, metrics } = await setup({ cache: { ttlMs: 300 } });
    await seedUsers(redis, keys, [['u1', { tx_count_1h: 1 }]]);
    expect(await reader.get('user', 'u1')).toMatchObject({ source: 'redis', features: { tx_count_1h: 1 } });
    await seedUsers(redis, keys, [['u1', { tx_count_1h: 2 }]]);
    const cached = await reader.get('user', 'u1', { requestTimeMs: Date.UTC(2026, 0, 1, 5) });
    expect(cached).toMatchObject({ source: 'cache', features: { tx_count_1h: 1, hour_of_day: 5 } });
    expect(await cache('hit')).toBe(1);
    expect(await cache('miss')).toBe(1);

    // Expiry shows as a second miss, and the fresh value comes with it.
    await waitFor('cache entry to expire', async () => (await reader.get('user', 'u1')).source === 'redis', { intervalMs: 25 });
    expect(await cache('miss')).toBe(2);
    expect((await reader.get('user', 'u1')).features.tx_count_1h).toBe(2);
    expect(await metricValue(metrics, 'featurestream_reader_vectors_total', { source: 'cache' })).toBeGreaterThanOrEqual(2);
  });

  it('caches misses as defaults but never a store failure', async () => {
    const { reader, cache } = await setup({ cache: { ttlMs: 60_000 } });
    expect((await reader.get('user', 'nobody')).source).toBe('default');
    expect((await reader.get('user', 'nobody')).source).toBe('cache');
    expect(await cache('hit')).toBe(1);
  });

  it('coalesces concurrent requests for the same entity into one fetch', async () => {
    const { redis, keys, reader, cache, metrics } = await setup({ cache: false });
    await seedUsers(redis, keys, [['u1', { tx_count_1h: 5 }], ['u2', { tx_count_1h: 6 }]]);
    const pipelines = vi.spyOn(redis, 'pipeline');
    // A batch read of packed vectors is one script call per node (or a pipeline where the script is refused).
    const reads = (path: string) => metricValue(metrics, 'featurestream_reader_redis_reads_total', { path });
    const batchReads = async () => pipelines.mock.calls.length + (await reads('script')) + (await reads('mget'));
    const results = await Promise.all([
      ...Array.from({ length: 10 }, () => reader.get('user', 'u1')),
      reader.getMany('user', ['u1', 'u2', 'u2']),
    ]);
    expect(await batchReads()).toBe(2);
    expect(await cache('miss')).toBe(2);
    expect(await cache('coalesced')).toBe(10);
    for (const v of results.slice(0, 10)) expect(v).toMatchObject({ source: 'redis', features: { tx_count_1h: 5 } });
    expect((results[10] as Array<{ features: { tx_count_1h: number } }>).map((v) => v.features.tx_count_1h)).toEqual([5, 6, 6]);
  });
});
