/**
 * Joining fetches in flight on the packed layout's script path, against a
 * stand-in client that defines the read-packed script and answers it when
 * the test says (real Redis: test/integration/reader-cache.test.ts).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { Registry as MetricsRegistry } from 'prom-client';
import { createFeatureReader } from '../../../src/index.ts';
import { defaultRegistryConfig } from '../../../src/schemas/default-registry.ts';
import { parseRegistry } from '../../../src/schemas/registry.ts';
import type { RedisClient } from '../../../src/stores/redis.ts';
import { GroupCodec } from '../../../src/stores/vector-layout.ts';

const registry = parseRegistry(defaultRegistryConfig);
const group = registry.groupsOf('user')[0]!;
const codec = new GroupCodec(group.features.map((n) => registry.feature(n)!));
const blob = codec.content('packed', { tx_count_1h: 4 }, 1, Date.now()) as Buffer;

/** A single-node client whose MGETs (their keys) wait until `release()`, each answered with the blob per key. */
function heldMgetRedis() {
  const calls: string[][] = [];
  const waiting: Array<() => void> = [];
  const client: Record<string, unknown> = {
    status: 'ready',
    options: {},
    on: () => client,
    off: () => client,
    get: () => Promise.resolve(null),
    hget: () => Promise.resolve(null),
    pipeline: () => {
      throw new Error('one MGET should serve every read');
    },
    mgetBuffer(...keys: string[]) {
      calls.push(keys);
      return new Promise((resolve) => waiting.push(() => resolve(keys.map(() => blob))));
    },
  };
  return { client: client as unknown as RedisClient, calls, release: () => waiting.splice(0).forEach((go) => go()) };
}

describe('reader joins (MGET path)', () => {
  it('a call that only joins fetches in flight sends nothing of its own', async () => {
    const redis = heldMgetRedis();
    const reader = createFeatureReader({ registry: defaultRegistryConfig, redis: redis.client, dynamodb: false, metrics: new MetricsRegistry(), cache: false, deadlineMs: 60_000 });
    onTestFinished(() => reader.close());

    const first = reader.getMany('user', ['u1', 'u2', 'u1']);
    const joiner = reader.getMany('user', ['u2', 'u1']);
    // Let both calls reach the client before it answers.
    await new Promise((resolve) => setImmediate(resolve));
    expect(redis.calls).toEqual([['user:u1:features', 'user:u2:features']]);
    redis.release();

    const [a, b] = await Promise.all([first, joiner]);
    expect(a.map((v) => [v.entityId, v.source, v.features.tx_count_1h])).toEqual([
      ['u1', 'redis', 4],
      ['u2', 'redis', 4],
      ['u1', 'redis', 4],
    ]);
    expect(b.map((v) => [v.entityId, v.source])).toEqual([
      ['u2', 'redis'],
      ['u1', 'redis'],
    ]);
    expect(redis.calls).toHaveLength(1);
  });
});
