/**
 * approx_distinct against an exact Set over the accepted events
 * (approx-reference.ts): equal while counts are small, on the random streams
 * of the other operators (windows at and between tile edges, filters,
 * lifetime, evict, round trips, lapses). nextChangeAt is checked with the
 * core test registry (engine.property.test.ts), which has approx_distinct
 * over windows and over the lifetime.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WindowEngine, type EntityState } from '../../../src/aggregations/engine.ts';
import { parseRegistry, type FeatureValue } from '../../../src/schemas/registry.ts';
import { SKEW_MS, jsonSources, streams, type Step } from './fixtures.ts';
import { ReferenceModel } from './reference.ts';
import { replaySteps } from './replay.ts';

const approxRegistry = parseRegistry({
  entities: [{ name: 'user' }],
  sources: jsonSources,
  features: [
    { name: 'ad40s', source: 'tx', op: 'approx_distinct', field: 'merchant', window: '40s', tile: '2s', type: 'int', default: 0 },
    { name: 'ad10s', source: 'tx', op: 'approx_distinct', field: 'merchant', window: '10s', tile: '2s', type: 'int', default: 0 },
    { name: 'd40s', source: 'tx', op: 'distinct_count', field: 'merchant', window: '40s', tile: '2s', type: 'int', default: 0 },
    { name: 'ad_amt1m', source: 'tx', op: 'approx_distinct', field: 'amount', window: '1m', tile: '5s', type: 'int', default: 0 },
    { name: 'ad_big20s', source: 'tx', op: 'approx_distinct', field: 'merchant', window: '20s', tile: '1s', type: 'int', default: 0, where: [{ field: 'amount', gte: 100 }] },
    { name: 'ad_life', source: 'tx', op: 'approx_distinct', field: 'merchant', window: 'lifetime', type: 'int', default: 0, freshness: '15s' },
    { name: 'ad_life_amt', source: 'tx', op: 'approx_distinct', field: 'amount', window: 'lifetime', type: 'int', default: 0, freshness: '1m' },
    { name: 'ad_score', source: 'prof', op: 'approx_distinct', field: 'score', window: '30s', tile: '5s', type: 'int', default: 0 },
    { name: 'ad_label_life', source: 'prof', op: 'approx_distinct', field: 'label', window: 'lifetime', type: 'int', default: 0, freshness: '20s', where: [{ field: 'score', exists: true }] },
  ],
});

function flat(engine: WindowEngine, state: EntityState, now: number): Record<string, FeatureValue> {
  return Object.assign({}, ...Object.values(engine.evaluate(state, now).groups)) as Record<string, FeatureValue>;
}

function replay(steps: Step[]) {
  const engine = new WindowEngine(approxRegistry, { maxFutureSkewMs: SKEW_MS, dedupHorizonMs: 3_000 });
  const ref = new ReferenceModel(approxRegistry, 'user', { maxFutureSkewMs: SKEW_MS, dedupHorizonMs: 3_000 });
  const state = replaySteps(engine, ref, 'user', steps, (s, now) => expect(flat(engine, s, now)).toEqual(ref.evaluate(now).values));
  return { engine, ref, state, end: steps.at(-1)!.now };
}

describe('approx_distinct against an exact Set (small counts: exact)', () => {
  it('equals the exact count at and between tile edges, with filters, lifetime, evictions and round trips, up to full lapse', () => {
    fc.assert(
      fc.property(streams, fc.array(fc.integer({ min: 0, max: 200_000 }), { maxLength: 5 }), (steps, later) => {
        const { engine, ref, state, end } = replay(steps);
        for (const dt of [0, ...later.sort((a, b) => a - b)]) {
          for (const t of [Math.ceil((end + dt) / 10_000) * 10_000, end + dt]) {
            const want = ref.evaluate(t);
            expect(flat(engine, state, t)).toEqual(want.values);
            expect(engine.evaluate(state, t).lapsed.sort()).toEqual(want.lapsed.sort());
          }
        }
      }),
      { numRuns: 300 },
    );
  }, 60_000);
});
