/**
 * Per-call deadlines against a real, healthy Redis (issue 12 item 5): calls
 * with a deadline below the reader's margin must not trip the breaker, so a
 * later call with time to spare is served from Redis. Runs on a single node
 * and on the Cluster pass.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { Registry as MetricsRegistry } from 'prom-client';
import { createFeatureReader } from '../../src/index.ts';
import { Keys } from '../../src/stores/keys.ts';
import { randomName } from '../helpers/names.ts';
import { onCluster, testEnv, testRedisClient } from '../helpers/services.ts';
import { metricValue, seedUsers, testConfig } from './reader-fixtures.ts';

describe('reader deadlines on a healthy Redis', () => {
  it('ten 3 ms calls leave the breaker closed; the next 200 ms call is served from Redis', async () => {
    const prefix = `${randomName('fs-deadline')}:`;
    const redis = await testRedisClient(prefix);
    const keys = new Keys({ prefix, hashTags: onCluster() });
    const metrics = new MetricsRegistry();
    // The reader's own Redis budget (40% of 1 s) is generous, so only the callers' 3 ms deadlines are short.
    const reader = createFeatureReader({ registry: testConfig, redis, dynamodb: false, keys, metrics, cache: false, deadlineMs: 1_000 });
    onTestFinished(() => reader.close());
    await seedUsers(redis, keys, [['u1', { tx_count_1h: 4 }]]);

    for (let i = 0; i < 10; i++) {
      const v = await reader.get('user', 'u1', { deadlineMs: 3 });
      expect(['redis', 'default']).toContain(v.source);
    }
    expect(reader.breakerState).toBe('closed');
    expect(await metricValue(metrics, 'featurestream_reader_redis_failures_total')).toBe(0);
    expect(await reader.get('user', 'u1', { deadlineMs: 200 })).toMatchObject({ source: 'redis', features: { tx_count_1h: 4 } });
  });

  it('an answer that arrived while the event loop was blocked past the deadline is served from Redis, not counted a timeout', async () => {
    const prefix = `${randomName('fs-deadline')}:`;
    const redis = await testRedisClient(prefix);
    const keys = new Keys({ prefix, hashTags: onCluster() });
    const metrics = new MetricsRegistry();
    // The reader's own client (its command timeout is the reader's), 30 ms deadline: the loop is blocked well past it.
    const reader = createFeatureReader({ registry: testConfig, redis: {}, env: testEnv(), dynamodb: false, keys, metrics, cache: false, deadlineMs: 30 });
    onTestFinished(() => reader.close());
    expect(await reader.ready()).toBe(true);
    await seedUsers(redis, keys, [['u1', { tx_count_1h: 6 }]]);
    // Keyspace version and layout loaded: the next call sends its read at once, in the same turn.
    expect((await reader.get('user', 'u1', { deadlineMs: 1_000 })).source).toBe('redis');

    // From a setImmediate callback, the loop's next step is running due timers, before it reads sockets.
    const vector = await new Promise<unknown>((resolve, reject) => {
      setImmediate(() => {
        reader.get('user', 'u1').then(resolve, reject);
        const until = performance.now() + 120;
        while (performance.now() < until) {
          // blocked, as by a GC pause or a burst of requests; Redis answers meanwhile
        }
      });
    });
    expect(vector).toMatchObject({ source: 'redis', features: { tx_count_1h: 6 } });
    expect(await metricValue(metrics, 'featurestream_reader_redis_failures_total')).toBe(0);
    expect(reader.breakerState).toBe('closed');
  });
});
