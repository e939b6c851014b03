/**
 * The cache serves finished, frozen vectors and recomputes on-demand features
 * only when the request time leaves their window. Reference: a reader without
 * a cache over the same data, which computes every on-demand value afresh.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { Registry as MetricsRegistry } from 'prom-client';
import { createFeatureReader } from '../../../src/index.ts';
import { defineConfig, parseRegistry } from '../../../src/schemas/registry.ts';
import { encodeFeatureValue } from '../../../src/stores/codec.ts';
import { scriptedRedis, type Answer } from './scripted-redis.ts';

const config = defineConfig({
  entities: [{ name: 'user' }],
  sources: [{ name: 'p', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: { user_id: 'string', created_at: 'time', login: 'time', ts: 'time' } }],
  features: [
    { name: 'created_at', source: 'p', op: 'last', field: 'created_at', type: 'int', default: 0, freshness: '90d' },
    { name: 'login_s', source: 'p', op: 'last', field: 'login', type: 'int', default: 0, freshness: '90d' },
  ],
  onDemand: [
    { name: 'age_days', entity: 'user', kind: 'time_since', input: 'created_at', unit: 'd', default: -1 },
    { name: 'age_min', entity: 'user', kind: 'time_since', input: 'created_at', unit: 'm', default: -1 },
    { name: 'login_h', entity: 'user', kind: 'time_since', input: 'login_s', inputUnit: 's', unit: 'h', default: -1 },
    { name: 'hour', entity: 'user', kind: 'hour_of_day', default: 0 },
    { name: 'dow', entity: 'user', kind: 'day_of_week', default: 0 },
    { name: 'weekend', entity: 'user', kind: 'is_weekend', default: 0 },
  ],
});
const registry = parseRegistry(config);
const T0 = Date.UTC(2026, 2, 14, 23, 58, 30, 250);
const createdAt = T0 - 3 * 86_400_000 - 17_321;
const loginS = Math.floor(T0 / 1000) - 7_190;

/** u1 stored; u2 has no login (its time_since is the default). */
const stored: Answer = (keys) =>
  Promise.resolve(
    keys.map((key) => [
      null,
      ['1', String(T0), encodeFeatureValue(registry.feature('created_at')!, createdAt), key.includes(':u1:') ? encodeFeatureValue(registry.feature('login_s')!, loginS) : null],
    ]),
  );

function readers() {
  const metrics = new MetricsRegistry();
  const cached = createFeatureReader({ registry: config, redis: scriptedRedis(stored).client, dynamodb: false, metrics, cache: { ttlMs: 600_000 }, deadlineMs: 60_000 });
  const fresh = createFeatureReader({ registry: config, redis: scriptedRedis(stored).client, dynamodb: false, metrics: new MetricsRegistry(), cache: false, deadlineMs: 60_000 });
  onTestFinished(() => Promise.all([cached.close(), fresh.close()]).then(() => undefined));
  return { cached, fresh, metrics };
}

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** One on-demand feature alone (so no other window hides its edges), with the unit its value steps by. */
const SINGLES = [
  { feature: config.onDemand[0], step: DAY, edge: createdAt },
  { feature: config.onDemand[1], step: MIN, edge: createdAt },
  { feature: config.onDemand[2], step: HOUR, edge: loginS * 1000 },
  { feature: config.onDemand[3], step: HOUR, edge: 0 },
  { feature: config.onDemand[4], step: DAY, edge: 0 },
  { feature: config.onDemand[5], step: DAY, edge: 0 },
] as const;

describe('cache hits', () => {
  it('match freshly computed on-demand features at any request time, across window edges', async () => {
    for (const { feature, step, edge } of SINGLES) {
      const single = { ...config, onDemand: [feature] };
      const metrics = new MetricsRegistry();
      const cached = createFeatureReader({ registry: single, redis: scriptedRedis(stored).client, dynamodb: false, metrics, cache: { ttlMs: 600_000 }, deadlineMs: 60_000 });
      const fresh = createFeatureReader({ registry: single, redis: scriptedRedis(stored).client, dynamodb: false, metrics: new MetricsRegistry(), cache: false, deadlineMs: 60_000 });
      onTestFinished(() => Promise.all([cached.close(), fresh.close()]).then(() => undefined));
      const first = T0 - 2 * step;
      await cached.getMany('user', ['u1', 'u2'], { requestTimeMs: first });
      // A walk forward in random strides below the step, so the cache holds a window when its edge passes,
      // then the exact edges (last ms before, first ms of), then random jumps back and forth.
      const times: number[] = [];
      for (let t = first; t < first + 150 * step; t += 1 + Math.floor(Math.random() * step * 0.7)) times.push(t);
      const base = edge + Math.ceil((T0 - edge) / step) * step;
      for (let k = -3; k <= 3; k++) times.push(base + k * step - 1, base + k * step);
      for (let j = 0; j < 100; j++) times.push(T0 + Math.floor((Math.random() - 0.5) * 20 * step));
      for (const t of times) {
        for (const id of ['u1', 'u2']) {
          const hit = await cached.get('user', id, { requestTimeMs: t });
          expect(hit.source).toBe('cache');
          expect(hit.features, `${feature.name}: ${id} at ${new Date(t).toISOString()}`).toEqual((await fresh.get('user', id, { requestTimeMs: t })).features);
        }
      }
    }
  });

  it('match with every on-demand feature at once', async () => {
    const { cached, fresh } = readers();
    await cached.getMany('user', ['u1', 'u2'], { requestTimeMs: T0 });
    for (let t = T0 - DAY; t < T0 + 3 * DAY; t += 1 + Math.floor(Math.random() * 40 * MIN)) {
      for (const id of ['u1', 'u2']) {
        expect((await cached.get('user', id, { requestTimeMs: t })).features).toEqual((await fresh.get('user', id, { requestTimeMs: t })).features);
      }
    }
  });

  it('hand out frozen features, shared while the window holds, and count hits at scrape time', async () => {
    const { cached, metrics } = readers();
    await cached.get('user', 'u1', { requestTimeMs: T0 });
    const a = await cached.get('user', 'u1', { requestTimeMs: T0 + 1 });
    const b = await cached.get('user', 'u1', { requestTimeMs: T0 + 2 });
    expect(Object.isFrozen(a.features)).toBe(true);
    expect(Object.isFrozen(a.defaulted)).toBe(true);
    expect(() => ((a.features as Record<string, unknown>).hour = 5)).toThrow(TypeError);
    expect(b.features).toBe(a.features);
    expect(b).not.toBe(a);
    const { values } = await metrics.getSingleMetric('featurestream_reader_cache_total')!.get();
    expect(Object.fromEntries(values.map((v) => [v.labels.result, v.value]))).toEqual({ hit: 2, miss: 1 });
    const vectors = await metrics.getSingleMetric('featurestream_reader_vectors_total')!.get();
    expect(Object.fromEntries(vectors.values.map((v) => [v.labels.source, v.value]))).toEqual({ cache: 2, redis: 1 });
  });
});
