/**
 * The request context of get/getMany: on-demand compute functions and a
 * zscore's contextField see it, the cache never carries it from one call to
 * another, and a function that throws or returns a non-finite number gives
 * its default and counts featurestream_on_demand_errors_total{feature}.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { Registry as MetricsRegistry } from 'prom-client';
import { ConfigError, createFeatureReader } from '../../../src/index.ts';
import { defineConfig } from '../../../src/schemas/registry.ts';
import { heldRedis, scriptedRedis, type Answer } from './scripted-redis.ts';

const config = defineConfig({
  entities: [{ name: 'user' }],
  sources: [{ name: 'tx', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: { user_id: 'string', amount: 'number', ts: 'time' } }],
  features: [
    { name: 'count_1h', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0 },
    { name: 'sum_1h', source: 'tx', op: 'sum', field: 'amount', window: '1h', type: 'float', default: 0 },
    { name: 'avg_1h', source: 'tx', op: 'avg', field: 'amount', window: '1h', type: 'float', default: 0 },
    { name: 'sd_1h', source: 'tx', op: 'stddev', field: 'amount', window: '1h', type: 'float', default: 0 },
  ],
  onDemand: [
    { name: 'amount_share', entity: 'user', compute: (f, ctx) => (typeof ctx.amount === 'number' ? ctx.amount / Math.max(1, f.sum_1h as number) : 0), default: -1 },
    { name: 'amount_z', entity: 'user', kind: 'zscore', contextField: 'amount', mean: 'avg_1h', stddev: 'sd_1h', default: 0 },
    {
      name: 'boom',
      entity: 'user',
      compute: () => {
        throw new Error('boom');
      },
      default: 7,
    },
    { name: 'not_a_number', entity: 'user', compute: (f) => (f.count_1h as number) / 0 - Infinity, default: 3 },
  ],
});

const stored: Record<string, string> = { _version: '1', count_1h: '4', sum_1h: '50', avg_1h: '10', sd_1h: '5' };
const row = (fields: string[]) => fields.map((f) => (f === '_updated_ms' ? String(Date.now()) : (stored[f] ?? null)));
const answer: Answer = (keys, fields) => Promise.resolve(keys.map((_, i) => [null, row(fields[i]!)]));

function reader(cache: boolean, redis = scriptedRedis(answer)) {
  const metrics = new MetricsRegistry();
  const r = createFeatureReader({ registry: config, redis: redis.client, dynamodb: false, metrics, cache: cache && { ttlMs: 60_000 }, deadlineMs: 60_000 });
  onTestFinished(() => r.close());
  return { reader: r, metrics, sent: redis.sent };
}

async function errorCounts(metrics: MetricsRegistry): Promise<Record<string, number>> {
  const metric = metrics.getSingleMetric('featurestream_on_demand_errors_total');
  if (metric === undefined) return {};
  return Object.fromEntries((await metric.get()).values.map((v) => [String(v.labels.feature), v.value]));
}

describe('request context', () => {
  it('reaches compute functions and zscore contextFields; without it they see an empty context', async () => {
    const { reader: r } = reader(false);
    const [v] = await r.getMany('user', ['u1'], { context: { amount: 120 } });
    expect(v!.features).toMatchObject({ amount_share: 120 / 50, amount_z: (120 - 10) / 5, count_1h: 4 });
    expect((await r.get('user', 'u1', { context: { amount: 20 } })).features).toMatchObject({ amount_share: 20 / 50, amount_z: 2 });
    expect((await r.get('user', 'u1')).features).toMatchObject({ amount_share: 0, amount_z: 0 });
    expect((await r.get('user', 'u1', { context: {} })).features).toMatchObject({ amount_share: 0, amount_z: 0 });
  });

  it('never carries one call context into another through the cache', async () => {
    const { reader: r, sent } = reader(true);
    expect(await r.get('user', 'u1', { context: { amount: 100 } })).toMatchObject({ source: 'redis', features: { amount_share: 2 } });
    expect(await r.get('user', 'u1', { context: { amount: 200 } })).toMatchObject({ source: 'cache', features: { amount_share: 4 } });
    expect(await r.get('user', 'u1')).toMatchObject({ source: 'cache', features: { amount_share: 0, amount_z: 0 } });
    expect(await r.get('user', 'u1', { context: { amount: 300 } })).toMatchObject({ source: 'cache', features: { amount_share: 6, amount_z: 58 } });
    expect(await r.getMany('user', ['u1', 'u1'], { context: { amount: 50 } })).toMatchObject([{ features: { amount_share: 1 } }, { features: { amount_share: 1 } }]);
    expect(await r.get('user', 'u1')).toMatchObject({ source: 'cache', features: { amount_share: 0 } });
    expect(sent).toHaveLength(1);
  });

  it('gives each caller joining one fetch its own context', async () => {
    const held = heldRedis((keys) => keys.map(() => [null, row(['_version', '_updated_ms', 'count_1h', 'sum_1h', 'avg_1h', 'sd_1h'])]));
    const { reader: r, sent } = reader(true, held);
    const first = r.get('user', 'u1', { context: { amount: 100 } });
    const second = r.getMany('user', ['u1'], { context: { amount: 25 } });
    const third = r.get('user', 'u1');
    while (sent.length === 0) await new Promise((resolve) => setImmediate(resolve));
    held.release();
    expect((await first).features.amount_share).toBe(2);
    expect((await second)[0]!.features.amount_share).toBe(0.5);
    expect((await third).features.amount_share).toBe(0);
    expect(sent).toHaveLength(1);
  });

  it('serves the default of a function that throws or returns a non-finite number, and counts it per feature', async () => {
    const { reader: r, metrics } = reader(false);
    const [v] = await r.getMany('user', ['u1', 'u2'], { context: { amount: 120 } });
    expect(v!.features).toMatchObject({ boom: 7, not_a_number: 3, amount_share: 120 / 50 });
    expect(await errorCounts(metrics)).toEqual({ boom: 2, not_a_number: 2 });
    await r.get('user', 'u3');
    expect(await errorCounts(metrics)).toEqual({ boom: 3, not_a_number: 3 });
    // A feature subset computes only what it asked for: the others' errors are not its own.
    expect((await r.get('user', 'u1', { features: ['amount_share'] })).features).toEqual({ amount_share: 0 });
    expect(await errorCounts(metrics)).toEqual({ boom: 3, not_a_number: 3 });
  });

  it('refuses a context that is not an object', async () => {
    const { reader: r, sent } = reader(true);
    for (const context of [[1], 'amount', 5, null]) {
      await expect(r.getMany('user', ['u1'], { context: context as never })).rejects.toThrow(ConfigError);
    }
    expect(sent).toEqual([]);
  });
});
