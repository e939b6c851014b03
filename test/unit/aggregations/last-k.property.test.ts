/**
 * last_k keeps its entries in arrays grown one entry at a time up to k
 * (recent.ts): against the brute-force reference for k below, at and above
 * the number of distinct values a stream holds (7 merchants), through
 * growth, replacement, eviction and round trips.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WindowEngine, type EntityState } from '../../../src/aggregations/engine.ts';
import { parseRegistry, type FeatureValue } from '../../../src/schemas/registry.ts';
import { SKEW_MS, jsonSources, streams } from './fixtures.ts';
import { ReferenceModel } from './reference.ts';
import { replaySteps } from './replay.ts';

const registry = parseRegistry({
  entities: [{ name: 'user' }],
  sources: jsonSources,
  features: [1, 2, 3, 6, 7, 8, 12].map((k) => ({
    name: `rk${k}`,
    source: 'tx',
    op: 'last_k',
    field: 'merchant',
    k,
    type: 'string_list',
    default: [],
    freshness: k % 2 === 0 ? '10s' : '40s',
  })),
});

function flat(engine: WindowEngine, state: EntityState, now: number): { values: Record<string, FeatureValue>; lapsed: string[] } {
  const v = engine.evaluate(state, now);
  return { values: Object.assign({}, ...Object.values(v.groups)) as Record<string, FeatureValue>, lapsed: v.lapsed };
}

describe('last_k arrays grown up to k', () => {
  it('equal the reference after any stream, as time passes, for k of 1 to 12', () => {
    fc.assert(
      fc.property(streams, fc.array(fc.integer({ min: 0, max: 100_000 }), { maxLength: 4 }), (steps, later) => {
        const options = { maxFutureSkewMs: SKEW_MS, dedupHorizonMs: 60_000 };
        const engine = new WindowEngine(registry, options);
        const ref = new ReferenceModel(registry, 'user', options);
        const state = replaySteps(engine, ref, 'user', steps, (s, now) => expect(flat(engine, s, now)).toEqual(ref.evaluate(now)));
        const end = steps.at(-1)!.now;
        for (const dt of [0, ...later.sort((a, b) => a - b)]) {
          engine.evict(state, end + dt);
          expect(flat(engine, state, end + dt)).toEqual(ref.evaluate(end + dt));
          const copy = engine.deserialize(engine.serialize(state));
          expect(flat(engine, copy, end + dt)).toEqual(ref.evaluate(end + dt));
        }
      }),
      { numRuns: 300 },
    );
  });
});
