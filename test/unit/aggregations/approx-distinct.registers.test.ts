/**
 * approx_distinct beyond the exact threshold: HyperLogLog registers per tile.
 *
 * - Tile merges: on random streams with hundreds to thousands of distinct
 *   values, a window's estimate equals the estimate of one sketch of exactly
 *   the values the exact Set reference finds in that window (merging tiles by
 *   max loses nothing, at and between tile edges, through evictions, round
 *   trips and register pruning), and it stays within 4 standard errors of the
 *   exact count.
 * - Error bound: the relative standard error over many independent value sets
 *   from 1e3 to 1e6 is at most 2% (theory: 1.04 / sqrt(4096) = 1.63%), and
 *   the engine stays within it end to end at 1e4..1e6 as a window slides.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EXACT_MAX } from '../../../src/aggregations/approx-distinct.ts';
import { valueHash } from '../../../src/aggregations/dedup.ts';
import { WindowEngine, type EntityState } from '../../../src/aggregations/engine.ts';
import { compileEntity } from '../../../src/aggregations/plan.ts';
import { approxAt } from '../../../src/aggregations/state.ts';
import { ByteReader, ByteWriter } from '../../../src/aggregations/bytes.ts';
import { M, Q, addHash, estimate, readRegisters, writeRegisters } from '../../../src/aggregations/hll.ts';
import type { NormalizedEvent } from '../../../src/schemas/events.ts';
import { StateCorruptError } from '../../../src/errors.ts';
import { parseRegistry } from '../../../src/schemas/registry.ts';
import { exactValues, windowOf } from './approx-reference.ts';
import { T0, jsonSources } from './fixtures.ts';

const RSE = 1.04 / Math.sqrt(M);

const registry = parseRegistry({
  entities: [{ name: 'user' }],
  sources: jsonSources,
  features: [
    { name: 'ad1m', source: 'tx', op: 'approx_distinct', field: 'merchant', window: '1m', tile: '5s', type: 'int', default: 0 },
    { name: 'ad20s', source: 'tx', op: 'approx_distinct', field: 'merchant', window: '20s', tile: '5s', type: 'int', default: 0 },
    { name: 'ad_life', source: 'tx', op: 'approx_distinct', field: 'merchant', window: 'lifetime', type: 'int', default: 0, freshness: '30s' },
  ],
});

const approxPlans = compileEntity(registry, 'user', 0).approx;
const approxSlots = (state: EntityState) => approxPlans.map((p) => approxAt(state, p));

/** The estimate of one sketch of exactly these values: what a lossless merge of tiles must give. */
function sketchOf(values: Iterable<string>): number {
  const regs = new Uint8Array(M);
  for (const v of values) addHash(regs, valueHash(v));
  return estimate(regs);
}

function exactSet(name: string, events: NormalizedEvent[], appliedAt: number[], now: number): Set<string> | undefined {
  return exactValues(registry.feature(name)!, events, now, appliedAt);
}

/** Some events are ahead of now (within the allowed skew): their tiles are not current yet. */
const AHEAD_MS = 7_000;

const burst = fc.record({
  advance: fc.integer({ min: 0, max: 9_000 }),
  events: fc.integer({ min: 1, max: 300 }),
  pool: fc.integer({ min: 40, max: 3_000 }),
  /** How far back event times reach: within the window, or partly beyond it. */
  back: fc.constantFrom(4_000, 30_000, 80_000),
  seed: fc.integer({ min: 0, max: 2 ** 30 }),
  after: fc.constantFrom('none', 'evict', 'roundtrip'),
});

describe('approx_distinct registers', () => {
  it('merges tiles losslessly: each window estimates exactly the sketch of its exact value set, within 4 standard errors of the count', () => {
    fc.assert(
      fc.property(fc.array(burst, { minLength: 1, maxLength: 10 }), fc.array(fc.integer({ min: 0, max: 90_000 }), { minLength: 1, maxLength: 3 }), (bursts, later) => {
        const engine = new WindowEngine(registry);
        let state = engine.newState('user');
        const events: NormalizedEvent[] = [];
        const appliedAt: number[] = [];
        let now = T0;
        for (const b of bursts) {
          now += b.advance;
          let seed = b.seed;
          for (let i = 0; i < b.events; i++) {
            seed = (seed * 48271) % 2147483647;
            const e: NormalizedEvent = { source: 'tx', entityId: 'u1', eventTimeMs: now + AHEAD_MS - (seed % (b.back + AHEAD_MS)), fields: { amount: 1, merchant: `m${seed % b.pool}` } };
            engine.apply(state, e, now);
            events.push(e);
            appliedAt.push(now);
          }
          if (b.after === 'evict') engine.evict(state, now);
          if (b.after === 'roundtrip') {
            const bytes = engine.serialize(state);
            state = engine.deserialize(bytes);
            expect(Buffer.from(engine.serialize(state)).equals(Buffer.from(bytes))).toBe(true);
          }
        }
        for (const dt of [0, ...later.sort((a, b) => a - b)]) {
          for (const t of [Math.ceil((now + dt) / 5_000) * 5_000, now + dt]) {
            const got = engine.evaluate(state, t).groups.features!;
            for (const [name, slot] of [['ad1m', 0], ['ad20s', 0], ['ad_life', 1]] as const) {
              const want = exactSet(name, events, appliedAt, t);
              if (want === undefined) {
                expect(got[name], name).toBeUndefined();
                continue;
              }
              const registers = approxAt(state, approxPlans[slot]!)!.registers !== undefined;
              if (!registers) expect(got[name], name).toBe(want.size);
              else {
                expect(got[name], `${name} vs a sketch of the exact set`).toBe(sketchOf(want));
                expect(Math.abs((got[name] as number) - want.size), `${name} vs the exact count ${want.size}`).toBeLessThanOrEqual(4 * RSE * want.size + 1);
              }
            }
          }
        }
      }),
      { numRuns: 40 },
    );
  }, 120_000);

  it('keeps the relative standard error within 2% from 1e3 to 1e6 distinct values, every estimate within 4 standard errors', () => {
    // 48 independent value sets, log-spaced cardinalities. Merging is lossless (above), so one sketch per set measures the engine's error.
    const errors: number[] = [];
    for (let k = 0; k < 48; k++) {
      const n = Math.round(1_000 * 1_000 ** (k / 47));
      const regs = new Uint8Array(M);
      for (let i = 0; i < n; i++) addHash(regs, valueHash(`set${k}:${i}`));
      errors.push(estimate(regs) / n - 1);
    }
    const rms = Math.sqrt(errors.reduce((a, e) => a + e * e, 0) / errors.length);
    const worst = Math.max(...errors.map(Math.abs));
    console.info(`approx_distinct relative error over 48 sets of 1e3..1e6 values: rms ${(100 * rms).toFixed(2)}%, worst ${(100 * worst).toFixed(2)}% (theory: standard error ${(100 * RSE).toFixed(2)}%)`);
    expect(rms).toBeLessThanOrEqual(0.02);
    expect(worst).toBeLessThanOrEqual(4 * RSE);
  }, 30_000);

  it('stays within the bound end to end at 1e4, 1e5 and 1e6 values as a 1h window of 30 tiles slides', () => {
    const H = 3_600_000;
    const r = parseRegistry({
      entities: [{ name: 'user' }],
      sources: jsonSources,
      features: [{ name: 'ad1h', source: 'tx', op: 'approx_distinct', field: 'merchant', window: '1h', tile: '2m', type: 'int', default: 0 }],
    });
    const f = r.feature('ad1h')!;
    for (const n of [10_000, 100_000, 1_000_000]) {
      const engine = new WindowEngine(r);
      const state = engine.newState('user');
      // 1.5 n events over 80 minutes in time order, value i % n: some values recur in later tiles.
      const total = Math.round(1.5 * n);
      const times = new Float64Array(total);
      for (let i = 0; i < total; i++) {
        const t = T0 - H + Math.floor((i * 80 * 60_000) / total);
        times[i] = t;
        engine.apply(state, { source: 'tx', entityId: 'u1', eventTimeMs: t, fields: { merchant: `v${i % n}` } }, t + 1);
      }
      const end = T0 + 20 * 60_000;
      for (const now of [end, end + 1_000, end + 10 * 60_000, end + 30 * 60_000]) {
        const [from, to] = windowOf(f, now);
        const seen = new Uint8Array(n);
        let exact = 0;
        for (let i = 0; i < total; i++) {
          if (times[i]! >= from && times[i]! < to && seen[i % n] === 0) {
            seen[i % n] = 1;
            exact++;
          }
        }
        const got = engine.evaluate(state, now).groups.features!.ad1h as number;
        expect(Math.abs(got / exact - 1), `${n} values, now ${now - end} ms after the end: ${got} vs ${exact}`).toBeLessThanOrEqual(4 * RSE);
      }
    }
  }, 60_000);

  it('reads damaged approx_distinct state only as StateCorruptError', () => {
    const engine = new WindowEngine(registry);
    const state = engine.newState('user');
    // Sparse and dense register tiles, and a dense lifetime sketch.
    for (let i = 0; i < 20_000; i++) {
      const t = T0 + Math.floor(i * 2.5);
      engine.apply(state, { source: 'tx', entityId: 'u1', eventTimeMs: t, fields: { amount: 1, merchant: `m${i}` } }, t + 1);
    }
    const bytes = engine.serialize(state);
    expect(Buffer.from(engine.serialize(engine.deserialize(bytes))).equals(Buffer.from(bytes))).toBe(true);
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), fc.boolean(), (at, xor, cut) => {
        const damaged = cut ? bytes.subarray(0, at) : Uint8Array.from(bytes, (b, i) => (i === at ? b ^ xor : b));
        try {
          engine.deserialize(damaged);
        } catch (e) {
          expect(e).toBeInstanceOf(StateCorruptError);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('writes registers sparse or dense, whichever is shorter, and reads them back to the same bytes', () => {
    const registers = fc
      .record({ fill: fc.double({ min: 0.0005, max: 1, noNaN: true }), center: fc.integer({ min: 1, max: 38 }), spread: fc.integer({ min: 0, max: 6 }), outliers: fc.integer({ min: 0, max: 40 }), seed: fc.integer({ min: 1, max: 2 ** 30 }) })
      .map(({ fill, center, spread, outliers, seed }) => {
        const regs = new Uint8Array(M);
        const next = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
        for (let i = 0; i < M; i++) if (next() < fill) regs[i] = Math.max(1, Math.min(Q + 1, center + Math.round((next() - 0.5) * 2 * spread)));
        // Values far above the rest: the dense form's exceptions.
        for (let k = 0; k < outliers; k++) regs[Math.floor(next() * M)] = Q + 1 - Math.floor(next() * 5);
        regs[0] = regs[0] || 1;
        return regs;
      });
    fc.assert(
      fc.property(registers, (regs) => {
        const w = new ByteWriter();
        writeRegisters(w, regs);
        const bytes = w.finish();
        const r = new ByteReader(bytes);
        const back = readRegisters(r);
        expect(r.remaining).toBe(0);
        expect(Buffer.from(back).equals(Buffer.from(regs))).toBe(true);
        const filled = regs.filter((v) => v > 0).length;
        // Never more than the sparse form: at most 2 bytes per register, 3 for the at most 16 gaps of 256 or more.
        expect(bytes.length).toBeLessThanOrEqual(2 + 2 * filled + 16);
      }),
      { numRuns: 300 },
    );
  });

  it(`counts exactly up to ${EXACT_MAX} values, estimates beyond, and is exact again once the registers have left the span`, () => {
    const engine = new WindowEngine(registry);
    const state = engine.newState('user');
    const apply = (t: number, merchant: string) => engine.apply(state, { source: 'tx', entityId: 'u1', eventTimeMs: t, fields: { amount: 1, merchant } }, t);
    for (let i = 0; i < EXACT_MAX; i++) apply(T0 + i, `m${i}`);
    expect(engine.evaluate(state, T0 + 1_000).groups.features).toMatchObject({ ad1m: EXACT_MAX, ad_life: EXACT_MAX });
    expect(approxSlots(state).map((a) => a?.registers)).toEqual([undefined, undefined]);
    apply(T0 + 200, `m${EXACT_MAX}`);
    expect(approxSlots(state).every((a) => a?.registers !== undefined)).toBe(true);
    const v = engine.evaluate(state, T0 + 1_000).groups.features!;
    expect(Math.abs((v.ad1m as number) - (EXACT_MAX + 1))).toBeLessThanOrEqual(4 * RSE * (EXACT_MAX + 1));
    expect(v.ad1m).toBe(sketchOf(Array.from({ length: EXACT_MAX + 1 }, (_, i) => `m${i}`)));
    // Two minutes on, every register tile has left the 1m span, and the lifetime feature (TTL 1m) has lapsed: both count exactly again.
    apply(T0 + 120_000, 'late');
    expect(approxSlots(state).map((a) => a?.registers)).toEqual([undefined, undefined]);
    expect(engine.evaluate(state, T0 + 120_001).groups.features).toMatchObject({ ad1m: 1, ad_life: 1 });
  });
});
