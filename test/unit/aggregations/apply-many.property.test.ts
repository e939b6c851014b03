/**
 * applyMany (one entity's events of a batch at one processing time) and the
 * remembered reads behind evaluate/nextChangeAt (memo.ts), against the
 * brute-force reference on random streams: late, re-sent, future-skewed and
 * filtered events, evicts and round trips between batches.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WindowEngine, type EntityState } from '../../../src/aggregations/engine.ts';
import { InvalidEventError } from '../../../src/errors.ts';
import { parseRegistry, type FeatureValue, type Registry } from '../../../src/schemas/registry.ts';
import { SKEW_MS, T0, jsonSources, streams, testRegistry, type Step } from './fixtures.ts';
import { ReferenceModel } from './reference.ts';

const big = [{ field: 'amount', gte: 100 }];
const filtered = parseRegistry({
  entities: [{ name: 'user' }],
  sources: jsonSources,
  features: [
    { name: 'big_c1m', source: 'tx', op: 'count', window: '1m', tile: '5s', type: 'int', default: 0, where: big },
    { name: 'all_s1m', source: 'tx', op: 'sum', field: 'amount', window: '1m', tile: '5s', type: 'float', default: 0 },
    { name: 'band_d40s', source: 'tx', op: 'distinct_count', field: 'merchant', window: '40s', tile: '2s', type: 'int', default: 0, where: [{ field: 'merchant', ne: 'm0' }] },
    { name: 'top2_40s', source: 'tx', op: 'top_k', field: 'merchant', k: 2, window: '40s', tile: '2s', type: 'string_list', default: [] },
    { name: 'big_rk3', source: 'tx', op: 'last_k', field: 'merchant', k: 3, type: 'string_list', default: [], freshness: '15s', where: big },
    { name: 'life', source: 'tx', op: 'count', window: 'lifetime', type: 'int', default: 0, freshness: '30s' },
    { name: 'first2', source: 'tx', op: 'first_k', field: 'merchant', k: 2, type: 'string_list', default: [], freshness: '30s' },
    { name: 'a_label', source: 'prof', op: 'last', field: 'score', type: 'int', default: 0, freshness: '20s', where: [{ field: 'label', eq: 'a' }] },
  ],
});

function flat(engine: WindowEngine, state: EntityState, now: number): { values: Record<string, FeatureValue>; lapsed: string[] } {
  const v = engine.evaluate(state, now);
  return { values: Object.assign({}, ...Object.values(v.groups)) as Record<string, FeatureValue>, lapsed: v.lapsed };
}

/** Cuts a stream into batches (sizes from `cuts`), each applied at its last step's time, as the worker does. */
function batches(steps: Step[], cuts: number[]): Step[][] {
  const out: Step[][] = [];
  let i = 0;
  for (let c = 0; i < steps.length; c++) {
    const n = 1 + ((cuts[c % Math.max(1, cuts.length)] ?? 0) % 8);
    out.push(steps.slice(i, i + n));
    i += n;
  }
  return out;
}

/** Reads at `now` and at later times (with evicts between some of them), each against the reference. */
function readsMatch(engine: WindowEngine, ref: ReferenceModel, state: EntityState, now: number, later: number[], evictAt: boolean[]): void {
  let t = now;
  for (let k = 0; k < later.length; k++) {
    expect(flat(engine, state, t)).toEqual(ref.evaluate(t));
    const next = engine.nextChangeAt(state, t);
    // Nothing changes before the next change: at next - 1 the reference still agrees with t's vector.
    if (next !== undefined) {
      expect(next).toBeGreaterThan(t);
      expect(ref.evaluate(next - 1)).toEqual(ref.evaluate(t));
    }
    if (evictAt[k]) engine.evict(state, t);
    t += later[k]!;
  }
  expect(flat(engine, state, t)).toEqual(ref.evaluate(t));
}

function check(registry: Registry, horizonMs: number, steps: Step[], cuts: number[], later: number[], evictAt: boolean[]): void {
  const engine = new WindowEngine(registry, { maxFutureSkewMs: SKEW_MS, dedupHorizonMs: horizonMs });
  const ref = new ReferenceModel(registry, 'user', { maxFutureSkewMs: SKEW_MS, dedupHorizonMs: horizonMs });
  let state = engine.newState('user');
  for (const batch of batches(steps, cuts)) {
    const now = batch.at(-1)!.now;
    const results = engine.applyMany(
      state,
      batch.map((s) => s.event),
      now,
    );
    expect(results).toHaveLength(batch.length);
    batch.forEach((s, i) => {
      const expected = ref.apply(s.event, now);
      const got = results[i]!;
      if (expected === 'future') expect(got instanceof InvalidEventError && got.code === 'EVENT_IN_FUTURE').toBe(true);
      else expect(got === 'duplicate').toBe(expected === 'duplicate');
    });
    const after = batch.at(-1)!.after;
    if (after === 'evict') engine.evict(state, now);
    if (after === 'roundtrip') state = engine.deserialize(engine.serialize(state));
    if (after !== 'none') expect(flat(engine, state, now)).toEqual(ref.evaluate(now));
  }
  readsMatch(engine, ref, state, steps.at(-1)!.now, later, evictAt);
}

const gaps = fc.array(fc.oneof(fc.integer({ min: 1, max: 3_000 }), fc.integer({ min: 1, max: 90_000 })), { minLength: 1, maxLength: 12 });

describe('applyMany and remembered reads against the brute-force reference', () => {
  it('every operator: per-event outcomes in place, then exact vectors and next changes as time passes', () => {
    fc.assert(
      fc.property(fc.constantFrom(0, 3_000, 60_000), streams, fc.array(fc.nat(), { maxLength: 20 }), gaps, fc.array(fc.boolean(), { maxLength: 12 }), (h, steps, cuts, later, evictAt) =>
        check(testRegistry, h, steps, cuts, later, evictAt),
      ),
      { numRuns: 150 },
    );
  }, 60_000);

  it('filters, top_k, lifetime and first_k likewise', () => {
    fc.assert(
      fc.property(streams, fc.array(fc.nat(), { maxLength: 20 }), gaps, fc.array(fc.boolean(), { maxLength: 12 }), (steps, cuts, later, evictAt) =>
        check(filtered, 60_000, steps, cuts, later, evictAt),
      ),
      { numRuns: 150 },
    );
  }, 60_000);

  it('returns an invalid event\'s error in its place and applies the rest', () => {
    const engine = new WindowEngine(testRegistry, { maxFutureSkewMs: SKEW_MS });
    const state = engine.newState('user');
    const tx = (id: string, dt: number) => ({ source: 'tx', entityId: 'u1', eventTimeMs: T0 + dt, eventId: id, fields: { amount: 2, merchant: 'm1' } });
    const results = engine.applyMany(state, [tx('a', 0), { ...tx('b', 0), source: 'nope' }, tx('c', SKEW_MS + 2), { ...tx('d', 0), eventTimeMs: 1.5 }, tx('a', 0), tx('e', 0)], T0 + 1);
    expect(results.map((r) => (r instanceof InvalidEventError ? r.code : r))).toEqual(['applied', 'EVENT_INVALID', 'EVENT_IN_FUTURE', 'EVENT_INVALID', 'duplicate', 'applied']);
    expect(engine.evaluate(state, T0 + 1).groups.features!.c10s).toBe(2);
    expect(() => engine.apply(state, tx('f', SKEW_MS + 10), T0 + 1)).toThrow(expect.objectContaining({ code: 'EVENT_IN_FUTURE' }));
  });

  it('an evict that prunes a value\'s older tile gives the next change a fresh read gives', () => {
    const engine = new WindowEngine(testRegistry, { maxFutureSkewMs: SKEW_MS });
    const state = engine.newState('user');
    const tx = (dt: number) => ({ source: 'tx', entityId: 'u1', eventTimeMs: T0 + dt, fields: { amount: 1, merchant: 'm1' } });
    // m1 in the 2 s tiles 4 and 6 (ahead of now); at 13.5 s tile 6 is current and evict drops tile 4.
    engine.applyMany(state, [tx(9_000), tx(13_000)], T0 + 10_000);
    const later = T0 + 13_500;
    engine.evaluate(state, later);
    engine.evict(state, later);
    const fresh = engine.deserialize(engine.serialize(state));
    expect(engine.nextChangeAt(state, later)).toBe(engine.nextChangeAt(fresh, later));
    expect(engine.nextChangeAt(state, later)).toBe(T0 + 19_001);
  });
});
