import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WindowEngine, type EntityState } from '../../../src/aggregations/engine.ts';
import type { FeatureValue } from '../../../src/schemas/registry.ts';
import { eachDistinct } from '../../../src/aggregations/distinct.ts';
import { compileEntity } from '../../../src/aggregations/plan.ts';
import { approxAt, distinctAt, seriesAt } from '../../../src/aggregations/state.ts';
import { SKEW_MS, dedupsOf, seriesTiles, streams, testRegistry, type Step } from './fixtures.ts';
import { ReferenceModel } from './reference.ts';
import { replaySteps } from './replay.ts';

const RUNS = { numRuns: 300 };
const plan = compileEntity(testRegistry, 'user', 0);

function flat(engine: WindowEngine, state: EntityState, now: number): { values: Record<string, FeatureValue>; lapsed: string[] } {
  const v = engine.evaluate(state, now);
  return { values: Object.assign({}, ...Object.values(v.groups)) as Record<string, FeatureValue>, lapsed: v.lapsed };
}

/** Replays a stream into an engine and the reference, checking every apply outcome and every requested evaluation. */
function replay(horizonMs: number, steps: Step[]) {
  const engine = new WindowEngine(testRegistry, { maxFutureSkewMs: SKEW_MS, dedupHorizonMs: horizonMs });
  const ref = new ReferenceModel(testRegistry, 'user', { maxFutureSkewMs: SKEW_MS, dedupHorizonMs: horizonMs });
  const state = replaySteps(engine, ref, 'user', steps, (s, now) => expect(flat(engine, s, now)).toEqual(ref.evaluate(now)));
  const end = steps.at(-1)!.now;
  return { engine, ref, state, end };
}

describe('WindowEngine against the brute-force reference', () => {
  it('gives the same vector after any stream, at and between tile edges, up to full lapse', () => {
    fc.assert(
      fc.property(fc.constantFrom(0, 3_000, 60_000), streams, fc.array(fc.integer({ min: 0, max: 200_000 }), { maxLength: 6 }), (h, steps, later) => {
        const { engine, ref, state, end } = replay(h, steps);
        for (const dt of [0, ...later.sort((a, b) => a - b)]) {
          // Aligned to every tile size (500ms .. 5s) and unaligned.
          for (const t of [Math.ceil((end + dt) / 10_000) * 10_000, end + dt]) expect(flat(engine, state, t)).toEqual(ref.evaluate(t));
        }
      }),
      RUNS,
    );
  });

  it('nextChangeAt: nothing changes before it, and nothing ever changes when undefined', () => {
    fc.assert(
      fc.property(streams, fc.double({ min: 0, max: 1, noNaN: true }), (steps, frac) => {
        const { engine, ref, state, end } = replay(60_000, steps);
        const now = flat(engine, state, end);
        const next = engine.nextChangeAt(state, end);
        if (next === undefined) {
          expect(flat(engine, state, end + 400 * 86_400_000)).toEqual(now);
          return;
        }
        expect(next).toBeGreaterThan(end);
        const inside = end + 1 + Math.floor(frac * (next - end - 1));
        if (inside < next) expect(ref.evaluate(inside)).toEqual(now);
        expect(ref.evaluate(next - 1)).toEqual(now);
      }),
      RUNS,
    );
  });

  it('serialize/deserialize is the identity: same vectors, byte-equal re-serialization', () => {
    fc.assert(
      fc.property(streams, fc.boolean(), (steps, evict) => {
        const { engine, state, end } = replay(60_000, steps);
        if (evict) engine.evict(state, end);
        const bytes = engine.serialize(state);
        const copy = engine.deserialize(bytes);
        expect(Buffer.from(engine.serialize(copy)).equals(Buffer.from(bytes))).toBe(true);
        for (const t of [end, end + 7_000, end + 90_000]) expect(flat(engine, copy, t)).toEqual(flat(engine, state, t));
        expect(engine.nextChangeAt(copy, end)).toBe(engine.nextChangeAt(state, end));
      }),
      RUNS,
    );
  });

  it('keeps state bounded as time advances, and empty once everything lapsed', () => {
    fc.assert(
      fc.property(streams, (steps) => {
        const engine = new WindowEngine(testRegistry, { maxFutureSkewMs: SKEW_MS, dedupHorizonMs: 60_000 });
        const state = engine.newState('user');
        // The same stream replayed ten times, an hour apart: a long steady load.
        let end = 0;
        for (let round = 0; round < 10; round++) {
          for (const { event, now } of steps) {
            if (event.eventTimeMs > (event.arrivalMs ?? now) + SKEW_MS) continue;
            const shift = round * 3_600_000;
            const arrival = event.arrivalMs === undefined ? {} : { arrivalMs: event.arrivalMs + shift };
            engine.apply(state, { ...event, eventTimeMs: event.eventTimeMs + shift, ...arrival }, now + shift);
            end = now + shift;
          }
          engine.evict(state, end);
          const cur = (ms: number) => Math.floor(end / ms);
          for (const p of plan.series) for (const i of seriesTiles(seriesAt(state, p), p)) expect(i).toBeGreaterThanOrEqual(cur(5_000) - 24);
          for (const d of plan.distincts.map((p) => distinctAt(state, p))) if (d) eachDistinct(d.values, (_, tiles) => expect(typeof tiles === 'number' ? 1 : tiles.length).toBeLessThanOrEqual(5));
          for (const a of plan.approx.map((p) => approxAt(state, p))) for (const tiles of a?.exact?.values() ?? []) expect(typeof tiles === 'number' ? 1 : tiles.length).toBeLessThanOrEqual(5);
          expect(dedupsOf(state, plan.sources.length).reduce((n, d) => n + d.size, 0)).toBeLessThanOrEqual(steps.length);
          expect(engine.serialize(state).length).toBeLessThan(40 + 90 * steps.length);
        }
        engine.evict(state, end + 86_400_000);
        expect(state.slots.slice(plan.sources.length).every((x) => x === undefined)).toBe(true);
        // Ids are kept by the arrival clock, not by now: only those counted within one horizon of the newest arrival remain.
        for (const d of dedupsOf(state, plan.sources.length)) for (let i = 0; i < d.size; i++) expect(d.clock - d.arrivalAt(i)).toBeLessThan(60_000);
      }),
      { numRuns: 100 },
    );
  });
});
