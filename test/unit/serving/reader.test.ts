/**
 * Reader behaviour that needs exact control over Redis timing, against a
 * scripted stand-in for the ioredis client (real Redis: test/integration/reader-*).
 */
import { describe, expect, expectTypeOf, it, onTestFinished } from 'vitest';
import { Registry as MetricsRegistry } from 'prom-client';
import { createFeatureReader, type FeatureReaderOptions, type ServedValue } from '../../../src/index.ts';
import { defineConfig, parseRegistry } from '../../../src/schemas/registry.ts';
import { scriptedRedis, type Answer, type Row } from './scripted-redis.ts';

const config = defineConfig({
  entities: [{ name: 'user' }],
  sources: [{ name: 'tx', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: { user_id: 'string', ts: 'time' } }],
  features: [{ name: 'tx_count_1h', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0 }],
});

const row = (count: number): Row => ['1', String(Date.now()), String(count)];
const found: Answer = (keys) => Promise.resolve(keys.map(() => [null, row(5)]));

function reader(answer: Answer, extra: Partial<FeatureReaderOptions<typeof config>> = {}) {
  const redis = scriptedRedis(answer);
  const metrics = new MetricsRegistry();
  const r = createFeatureReader({ registry: config, redis: redis.client, dynamodb: false, metrics, cache: false, ...extra });
  onTestFinished(() => r.close());
  return { reader: r, sent: redis.sent, metrics };
}

describe('reader (scripted Redis)', () => {
  it('answers with defaults at the deadline when Redis hangs, and ignores the late reply', async () => {
    let release: (() => void) | undefined;
    const { reader: r } = reader((keys) => new Promise((resolve) => (release = () => resolve(keys.map(() => [null, row(9)])))), {
      deadlineMs: 30,
    });
    // Redis answers only on release(): an answer before it can only have come from the deadline.
    const [v] = await r.getMany('user', ['u1']);
    expect(v).toMatchObject({ source: 'default', features: { tx_count_1h: 0 }, defaulted: ['tx_count_1h'] });
    release!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(v!.features.tx_count_1h).toBe(0);
  });

  it('opens the breaker after repeated failures and stops sending to Redis', async () => {
    const { reader: r, sent } = reader(() => Promise.reject(new Error('connection lost')), { breaker: { failureThreshold: 2, openMs: 60_000 } });
    for (let i = 0; i < 5; i++) expect((await r.get('user', 'u1')).source).toBe('default');
    expect(sent).toHaveLength(2);
    expect(r.breakerState).toBe('open');
  });

  it('treats a connection error inside pipeline replies as a failure, not as a miss to cache', async () => {
    let fail = true;
    const { reader: r } = reader(
      (keys) => Promise.resolve(keys.map(() => (fail ? [new Error("Stream isn't writeable"), []] : [null, row(3)]))),
      { cache: { ttlMs: 60_000 } },
    );
    expect((await r.get('user', 'u1')).source).toBe('default');
    fail = false;
    expect(await r.get('user', 'u1')).toMatchObject({ source: 'redis', features: { tx_count_1h: 3 } });
    expect((await r.get('user', 'u1')).source).toBe('cache');
  });

  it('reads a duplicated id once and fills every position', async () => {
    const { reader: r, sent } = reader(found);
    const vectors = await r.getMany('user', ['u1', 'u2', 'u1']);
    expect(sent).toEqual([['user:u1:features', 'user:u2:features']]);
    expect(vectors.map((v) => [v.entityId, v.features.tx_count_1h])).toEqual([
      ['u1', 5],
      ['u2', 5],
      ['u1', 5],
    ]);
    expect(vectors[0]).not.toBe(vectors[2]);
  });

  it('a joiner keeps its own deadline even when the fetch it joined is slower', async () => {
    let release: (() => void) | undefined;
    const { reader: r, sent } = reader((keys) => new Promise((resolve) => (release = () => resolve(keys.map(() => [null, row(7)])))), {
      deadlineMs: 1_000,
    });
    const slow = r.get('user', 'u1');
    // The fetch it joined answers only on release(): the joiner returned on its own deadline.
    const joiner = await r.get('user', 'u1', { deadlineMs: 20 });
    expect(joiner.source).toBe('default');
    release!();
    expect((await slow).features.tx_count_1h).toBe(7);
    expect(sent).toHaveLength(1);
  });

  it('chunks very large batches into several pipelines', async () => {
    const { reader: r, sent } = reader(found, { pipelineChunkSize: 100 });
    const ids = Array.from({ length: 250 }, (_, i) => `u${i}`);
    const vectors = await r.getMany('user', ids);
    expect(sent.map((k) => k.length)).toEqual([100, 100, 50]);
    expect(vectors.every((v) => v.source === 'redis')).toBe(true);
  });

  it('types vectors from a defineConfig registry, and as a record from a run-time one', async () => {
    const { reader: typed } = reader(found);
    const v = await typed.get('user', 'u1');
    expectTypeOf(v.features).toEqualTypeOf<{ readonly tx_count_1h: number }>();
    // @ts-expect-error not an entity of this registry
    await expect(typed.get('merchant', 'm1')).rejects.toMatchObject({ code: 'NOT_FOUND' });

    const untyped = createFeatureReader({ registry: parseRegistry(config), redis: false, dynamodb: false, metrics: new MetricsRegistry() });
    onTestFinished(() => untyped.close());
    const u = await untyped.get('user', 'u1');
    expectTypeOf(u.features).toEqualTypeOf<{ readonly [name: string]: ServedValue }>();
    expect(u).toMatchObject({ source: 'default', features: { tx_count_1h: 0 } });
  });
});
