/**
 * Filters (`where`) and the stddev/variance operators against the
 * brute-force reference, on the same random streams as the core operators.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WindowEngine, type EntityState } from '../../../src/aggregations/engine.ts';
import { defineConfig, parseRegistry, type FeatureValue, type Registry } from '../../../src/schemas/registry.ts';
import { SKEW_MS, streams, testRegistry, type Step } from './fixtures.ts';
import { ReferenceModel } from './reference.ts';
import { replaySteps } from './replay.ts';

const tx = testRegistry.source('tx')!;
const prof = testRegistry.source('prof')!;
const sources = [
  { name: 'tx', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: tx.schema },
  { name: 'prof', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: prof.schema },
];
const jsonSources = [
  { name: 'tx', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: { event_id: 'string?', user_id: 'string', amount: 'number', merchant: 'string', ts: 'time' } },
  { name: 'prof', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: { event_id: 'string?', user_id: 'string', score: 'int?', label: 'string?', emb: 'vector?', ts: 'time' } },
];

const big = [{ field: 'amount', gte: 100 }];
export const filterRegistry = parseRegistry({
  entities: [{ name: 'user' }],
  sources: jsonSources,
  features: [
    { name: 'big_c1m', source: 'tx', op: 'count', window: '1m', tile: '5s', type: 'int', default: 0, where: big },
    { name: 'big_s1m', source: 'tx', op: 'sum', field: 'amount', window: '1m', tile: '5s', type: 'float', default: 0, where: big },
    { name: 'all_c1m', source: 'tx', op: 'count', window: '1m', tile: '5s', type: 'int', default: 0 },
    { name: 'neg_c30s', source: 'tx', op: 'count', window: '30s', tile: '5s', type: 'int', default: 0, where: [{ field: 'amount', lt: 0 }] },
    { name: 'm12_mx', source: 'tx', op: 'max', field: 'amount', window: '20s', tile: '1s', type: 'float', default: 0, where: [{ field: 'merchant', in: ['m1', 'm2'] }] },
    {
      name: 'band_d40s',
      source: 'tx',
      op: 'distinct_count',
      field: 'merchant',
      window: '40s',
      tile: '2s',
      type: 'int',
      default: 0,
      where: [{ field: 'amount', gt: 0, lte: 300 }, { field: 'merchant', ne: 'm0' }],
    },
    { name: 'big_rk3', source: 'tx', op: 'last_k', field: 'merchant', k: 3, type: 'string_list', default: [], freshness: '15s', where: big },
    { name: 'sd1m', source: 'tx', op: 'stddev', field: 'amount', window: '1m', tile: '5s', type: 'float', default: -1 },
    { name: 'var30s', source: 'tx', op: 'variance', field: 'amount', window: '30s', tile: '5s', type: 'float', default: -1 },
    { name: 'big_sd20s', source: 'tx', op: 'stddev', field: 'amount', window: '20s', tile: '1s', type: 'float', default: 0, where: big },
    { name: 'top2_40s', source: 'tx', op: 'top_k', field: 'merchant', k: 2, window: '40s', tile: '2s', type: 'string_list', default: [] },
    { name: 'top4_10s', source: 'tx', op: 'top_k', field: 'merchant', k: 4, window: '10s', tile: '2s', type: 'string_list', default: [] },
    { name: 'big_top3_1m', source: 'tx', op: 'top_k', field: 'merchant', k: 3, window: '1m', tile: '5s', type: 'string_list', default: [], where: big },
    { name: 'p95_1m', source: 'tx', op: 'approx_quantile', field: 'amount', q: 0.95, window: '1m', tile: '5s', type: 'float', default: -1 },
    { name: 'p50_20s', source: 'tx', op: 'approx_quantile', field: 'amount', q: 0.5, window: '20s', tile: '1s', type: 'float', default: -1 },
    { name: 'a_label', source: 'prof', op: 'last', field: 'score', type: 'int', default: 0, freshness: '20s', where: [{ field: 'label', eq: 'a' }] },
    { name: 'scored', source: 'prof', op: 'last_time', type: 'int', default: 0, freshness: '10s', where: [{ field: 'score', exists: true }] },
    { name: 'unscored', source: 'prof', op: 'last_time', type: 'int', default: 0, freshness: '10s', where: [{ field: 'score', exists: false }] },
  ],
});

const lifetimeRegistry = parseRegistry({
  entities: [{ name: 'user' }],
  sources: jsonSources,
  features: [
    { name: 'life_c', source: 'tx', op: 'count', window: 'lifetime', type: 'int', default: 0, freshness: '20s' },
    { name: 'life_s', source: 'tx', op: 'sum', field: 'amount', window: 'lifetime', type: 'float', default: 0, freshness: '1m' },
    { name: 'life_mn', source: 'tx', op: 'min', field: 'amount', window: 'lifetime', type: 'float', default: 0, freshness: '20s' },
    { name: 'life_mx', source: 'tx', op: 'max', field: 'amount', window: 'lifetime', type: 'float', default: 0, freshness: '20s' },
    { name: 'life_big', source: 'tx', op: 'count', window: 'lifetime', type: 'int', default: 0, freshness: '10s', where: big },
    { name: 'first_m', source: 'tx', op: 'first', field: 'merchant', type: 'string', default: '', freshness: '30s' },
    { name: 'first_amt', source: 'tx', op: 'first', field: 'amount', window: 'lifetime', type: 'float', default: 0, freshness: '30s' },
    { name: 'first3', source: 'tx', op: 'first_k', field: 'merchant', k: 3, type: 'string_list', default: [], freshness: '15s' },
    { name: 'first_score', source: 'prof', op: 'first', field: 'score', type: 'int', default: 0, freshness: '20s' },
    { name: 'c1m', source: 'tx', op: 'count', window: '1m', tile: '5s', type: 'int', default: 0 },
  ],
});

/** A TS registry: a predicate function. */
const fnRegistry = parseRegistry(
  defineConfig({
    entities: [{ name: 'user' }],
    sources,
    features: [
      { name: 'odd_c1m', source: 'tx', op: 'count', window: '1m', tile: '5s', type: 'int', default: 0, where: (f) => Math.round(f.amount as number) % 2 === 1 },
      { name: 'c1m', source: 'tx', op: 'count', window: '1m', tile: '5s', type: 'int', default: 0 },
    ],
  }),
);

function flat(engine: WindowEngine, state: EntityState, now: number): Record<string, FeatureValue | undefined> {
  const v = engine.evaluate(state, now);
  return Object.assign({}, ...Object.values(v.groups)) as Record<string, FeatureValue>;
}

/** Exact, except stddev/variance (Welford merged per tile vs two passes: ~1e-12 relative) and approx_quantile (within 1%). */
function expectSame(registry: Registry, got: Record<string, FeatureValue | undefined>, want: Record<string, FeatureValue>): void {
  for (const f of registry.features) {
    const [g, w] = [got[f.name], want[f.name]];
    if ((f.op === 'stddev' || f.op === 'variance') && typeof g === 'number' && typeof w === 'number') {
      expect(Math.abs(g - w), `${f.name}: ${g} vs ${w}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(w)));
    } else if (f.op === 'approx_quantile' && typeof g === 'number' && typeof w === 'number') {
      expect(Math.abs(g - w), `${f.name}: ${g} vs ${w}`).toBeLessThanOrEqual(0.01 * Math.abs(w) + 1e-9);
    } else expect(g, f.name).toEqual(w);
  }
}

function check(registry: Registry, steps: Step[], later: number[]): void {
  const engine = new WindowEngine(registry, { maxFutureSkewMs: SKEW_MS, dedupHorizonMs: 3_000 });
  const ref = new ReferenceModel(registry, 'user', { maxFutureSkewMs: SKEW_MS, dedupHorizonMs: 3_000 });
  const state = replaySteps(engine, ref, 'user', steps, (s, now) => expectSame(registry, flat(engine, s, now), ref.evaluate(now).values));
  const end = steps.at(-1)!.now;
  for (const dt of [0, ...later.sort((a, b) => a - b)]) {
    for (const t of [Math.ceil((end + dt) / 10_000) * 10_000, end + dt]) {
      const want = ref.evaluate(t);
      const got = flat(engine, state, t);
      expectSame(registry, got, want.values);
      expect(Object.keys(got).sort()).toEqual(Object.keys(want.values).sort());
    }
  }
}

describe('filters, stddev/variance, top_k, lifetime and first/first_k against the brute-force reference', () => {
  const later = fc.array(fc.integer({ min: 0, max: 200_000 }), { maxLength: 4 });

  it('JSON predicates: a filtered-out event neither counts nor refreshes freshness', () => {
    fc.assert(fc.property(streams, later, (steps, l) => check(filterRegistry, steps, l)), { numRuns: 200 });
  }, 60_000);

  it('lifetime count/sum/min/max, first and first_k: everything since last fresh, lapsing by freshness only', () => {
    fc.assert(fc.property(streams, later, (steps, l) => check(lifetimeRegistry, steps, l)), { numRuns: 200 });
  }, 60_000);

  it('TS predicate functions', () => {
    fc.assert(fc.property(streams, later, (steps, l) => check(fnRegistry, steps, l)), { numRuns: 100 });
  }, 60_000);

  it('stays numerically stable for large values with a small spread (Welford, merged)', () => {
    const r = parseRegistry({
      entities: [{ name: 'user' }],
      sources: jsonSources,
      features: [{ name: 'sd', source: 'tx', op: 'stddev', field: 'amount', window: '1m', tile: '5s', type: 'float', default: 0 }],
    });
    const engine = new WindowEngine(r);
    const s = engine.newState('user');
    const T = Date.UTC(2025, 0, 6);
    // 1e9 + {0.1, 0.2, ..., 1.0}: a naive sum of squares loses every digit here.
    for (let i = 1; i <= 10; i++) engine.apply(s, { source: 'tx', entityId: 'u1', eventTimeMs: T - 30_000 + i * 2_000, fields: { amount: 1e9 + i / 10, merchant: 'm' } }, T);
    expect(engine.evaluate(s, T).groups.features!.sd as number).toBeCloseTo(Math.sqrt(0.0825), 6);
  });

  it('approx_quantile stays within 1% on 200,000 values spread over six decades, and its state stays small', () => {
    const r = parseRegistry({
      entities: [{ name: 'user' }],
      sources: jsonSources,
      features: [0.01, 0.5, 0.9, 0.99].map((q, i) => ({ name: `q${i}`, source: 'tx', op: 'approx_quantile', field: 'amount', q, window: '1h', tile: '3m', type: 'float', default: 0 })),
    });
    const engine = new WindowEngine(r);
    const s = engine.newState('user');
    const T = Date.UTC(2025, 0, 6);
    const xs: number[] = [];
    let seed = 7;
    for (let i = 0; i < 200_000; i++) {
      seed = (seed * 16807) % 2147483647;
      const x = Math.round(10 ** ((seed / 2147483647) * 6) * 100) / 100;
      xs.push(x);
      engine.apply(s, { source: 'tx', entityId: 'u1', eventTimeMs: T - 3_600_000 + (i % 3_600_000), fields: { amount: x, merchant: 'm' } }, T);
    }
    xs.sort((a, b) => a - b);
    const v = engine.evaluate(s, T).groups.features!;
    [0.01, 0.5, 0.9, 0.99].forEach((q, i) => {
      const exact = xs[Math.floor(q * (xs.length - 1))]!;
      expect(Math.abs((v[`q${i}`] as number) - exact) / exact).toBeLessThanOrEqual(0.01);
    });
    const bytes = engine.serialize(s).length;
    console.info(`state bytes, approx_quantile over 1h in 3m tiles, 200,000 values over six decades: ${bytes}`);
    expect(bytes).toBeLessThan(64_000);
  });

  it('reports state bytes of a filtered and a stddev feature', () => {
    const engine = new WindowEngine(filterRegistry);
    const s = engine.newState('user');
    const T = Date.UTC(2025, 0, 6);
    for (let i = 0; i < 60; i++) engine.apply(s, { source: 'tx', entityId: 'u1', eventTimeMs: T - 60_000 + i * 1_000, fields: { amount: 50 + (i % 7) * 40.25, merchant: `m${i % 4}` } }, T);
    const bytes = engine.serialize(s).length;
    console.info(`state bytes, filter registry (13 features) after 60 events in a minute: ${bytes}`);
    expect(bytes).toBeLessThan(2_000);
  });
});
