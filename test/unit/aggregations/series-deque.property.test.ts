/**
 * A series' tiles are held in [start, end) of an array with room to spare
 * (state.ts SeriesState): trimming moves the start; an insert into a full
 * array drops the expired tiles and moves the rest only then. Against a
 * plain Map of tile -> count, through appends, out-of-order inserts and
 * trims of their own (evict), with the clock moving forward; the array
 * stays within twice the most tiles a window can see.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { currentTile, type SeriesPlan } from '../../../src/aggregations/plan.ts';
import { emptyState, type EntityState } from '../../../src/aggregations/state.ts';
import { addToSeries, trimSeries } from '../../../src/aggregations/update.ts';

const SPAN = 5;
const plan: SeriesPlan = {
  index: 0,
  field: undefined,
  tileMs: 1,
  spanTiles: SPAN,
  maxTtlMs: 0,
  needSum: false,
  needMin: false,
  needMax: false,
  needMoments: false,
  filter: undefined,
  stride: 2,
  minAt: -1,
  maxAt: -1,
  momentsAt: -1,
  blank: [0, 0],
};
const shape = { entity: 'user', entityIndex: 0, sources: [], series: [plan], lasts: [], distincts: [], recents: [], lifetimes: [], firsts: [], tops: [], quantiles: [], approx: [] };

const add = fc.record({ kind: fc.constant('add' as const), back: fc.nat(SPAN + 2), ahead: fc.boolean(), advance: fc.nat(3) });
const op = fc.oneof({ weight: 6, arbitrary: add }, { weight: 3, arbitrary: fc.record({ kind: fc.constant('trim' as const), advance: fc.nat(3) }) });

/** Live tiles in [lo, ...) as tile -> count. */
function visible(state: EntityState, lo: number): Map<number, number> {
  const s = state.series[0];
  const out = new Map<number, number>();
  if (s === undefined) return out;
  for (let j = s.start; j < s.end; j += s.stride) if (s.tiles[j]! >= lo) out.set(s.tiles[j]!, s.tiles[j + 1]!);
  return out;
}

/** Runs the ops against a Map of tile -> count, checking the series after each. */
function check(ops: readonly (typeof op extends fc.Arbitrary<infer T> ? T : never)[]): void {
  const state = emptyState(shape);
  const ref = new Map<number, number>();
  let now = 100;
  for (const o of ops) {
    now += o.advance;
    const cur = currentTile(now, 1);
    const lo = cur - SPAN + 1;
    if (o.kind === 'trim') {
      const s = state.series[0];
      if (s !== undefined) trimSeries(s, lo);
      for (const tile of [...ref.keys()]) if (tile < lo) ref.delete(tile);
      if (s !== undefined) expect(s.idx.every((tile) => tile >= lo)).toBe(true);
    } else {
      const tile = o.ahead ? cur + (o.back % 3) : cur - o.back;
      addToSeries(state, plan, 0, 0, tile, now);
      if (tile >= lo) ref.set(tile, (ref.get(tile) ?? 0) + 1);
    }
    const s = state.series[0];
    if (s !== undefined) {
      const idx = s.idx;
      expect(idx).toEqual([...idx].sort((a, b) => a - b));
      expect(new Set(idx).size).toBe(idx.length);
      expect(s.start % s.stride).toBe(0);
      expect(s.start).toBeLessThanOrEqual(s.end);
      expect(s.end).toBeLessThanOrEqual(s.tiles.length);
      // At most SPAN tiles up to the current one and 2 ahead of it are visible.
      expect(s.tiles.length).toBeLessThanOrEqual(2 * (SPAN + 2) * s.stride);
    }
    const want = new Map([...ref].filter(([tile]) => tile >= lo));
    expect(visible(state, lo)).toEqual(want);
  }
}

describe('series tiles from a moving start', () => {
  it('hold exactly the counts a Map of tile -> count holds, ascending, none dropped that a window can see', () => {
    fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: 200 }), check), { numRuns: 500 });
  });

  it('stay within bounds without evict: a full array drops the expired tiles before it grows', () => {
    fc.assert(fc.property(fc.array(add, { minLength: 50, maxLength: 400 }), check), { numRuns: 200 });
  });
});
