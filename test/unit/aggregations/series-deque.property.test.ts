/**
 * A series' tiles are held in [start, end) of one array with room to spare
 * (series.ts): trimming moves the start; an insert into a full array drops
 * the expired tiles and moves the rest only then, or grows the array by a
 * quarter. Against a plain Map of tile -> count, through appends,
 * out-of-order inserts and trims of their own (evict), with the clock
 * moving forward; the room stays within a quarter of the most tiles a
 * window can see, plus one tile.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { currentTile, type SeriesPlan } from '../../../src/aggregations/plan.ts';
import { END, HEAD, LAST_TS, START, addToSeries, trimSeries } from '../../../src/aggregations/series.ts';
import { emptyState, seriesAt, type EntityState } from '../../../src/aggregations/state.ts';
import { seriesTiles } from './fixtures.ts';

const SPAN = 5;
const plan: SeriesPlan = {
  index: 0,
  slot: 0,
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
const shape = { entity: 'user', entityIndex: 0, sources: [], slotCount: 1 };

const add = fc.record({ kind: fc.constant('add' as const), back: fc.nat(SPAN + 2), ahead: fc.boolean(), advance: fc.nat(3) });
const op = fc.oneof({ weight: 6, arbitrary: add }, { weight: 3, arbitrary: fc.record({ kind: fc.constant('trim' as const), advance: fc.nat(3) }) });

/** Live tiles in [lo, ...) as tile -> count. */
function visible(state: EntityState, lo: number): Map<number, number> {
  const s = seriesAt(state, plan);
  const out = new Map<number, number>();
  if (s === undefined) return out;
  for (let j = s[START]!; j < s[END]!; j += plan.stride) if (s[j]! >= lo) out.set(s[j]!, s[j + 1]!);
  return out;
}

/** Runs the ops against a Map of tile -> count, checking the series after each. */
function check(ops: readonly (typeof op extends fc.Arbitrary<infer T> ? T : never)[]): void {
  const state = emptyState(shape);
  const ref = new Map<number, number>();
  let now = 100;
  let newest = -Infinity;
  for (const o of ops) {
    now += o.advance;
    const cur = currentTile(now, 1);
    const lo = cur - SPAN + 1;
    if (o.kind === 'trim') {
      if (seriesAt(state, plan) !== undefined) trimSeries(state, plan, lo);
      for (const tile of [...ref.keys()]) if (tile < lo) ref.delete(tile);
      expect(seriesTiles(seriesAt(state, plan), plan.stride).every((tile) => tile >= lo)).toBe(true);
    } else {
      const tile = o.ahead ? cur + (o.back % 3) : cur - o.back;
      expect(addToSeries(state, plan, 0, 0, tile, now)).toBe(tile >= lo);
      if (tile >= lo) ref.set(tile, (ref.get(tile) ?? 0) + 1);
      if (tile >= lo) newest = Math.max(newest, tile);
    }
    const s = seriesAt(state, plan);
    if (s !== undefined) {
      const idx = seriesTiles(s, plan.stride);
      expect(idx).toEqual([...idx].sort((a, b) => a - b));
      expect(new Set(idx).size).toBe(idx.length);
      expect(s[LAST_TS]).toBe(newest);
      expect((s[START]! - HEAD) % plan.stride).toBe(0);
      expect(s[START]).toBeGreaterThanOrEqual(HEAD);
      expect(s[START]).toBeLessThanOrEqual(s[END]!);
      expect(s[END]).toBeLessThanOrEqual(s.length);
      // At most SPAN tiles up to the current one and 2 ahead of it are visible: room for a quarter more (at least one), and one being added.
      expect(s.length - HEAD).toBeLessThanOrEqual((SPAN + 2 + 1 + 1) * plan.stride);
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

describe('series capacity', () => {
  const wide: SeriesPlan = { ...plan, spanTiles: 1_000 };

  it('grows by about a quarter of the tiles held, keeping every tile, and gives the room back when its tiles expire', () => {
    const state = emptyState(shape);
    const lengths: number[] = [];
    for (let tile = 0; tile < 200; tile++) {
      addToSeries(state, wide, 0, 0, tile, 1);
      addToSeries(state, wide, 0, 0, tile, 1);
      const s = seriesAt(state, wide)!;
      if (lengths.at(-1) !== s.length) lengths.push(s.length);
      const held = (tile + 1) * wide.stride;
      expect(s[END]! - s[START]!).toBe(held);
      expect(s.length - HEAD).toBeLessThanOrEqual(held + Math.max(wide.stride, Math.ceil(held / 4)));
    }
    // One tile at first, then growth by a quarter: few reallocations, never a doubling.
    expect(lengths[0]).toBe(HEAD + wide.stride);
    expect(lengths.length).toBeLessThan(25);
    for (let k = 1; k < lengths.length; k++) expect(lengths[k]! - HEAD).toBeLessThanOrEqual(1.25 * (lengths[k - 1]! - HEAD) + wide.stride);
    expect(seriesTiles(seriesAt(state, wide), wide.stride)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(visible(state, 0).get(123)).toBe(2);
    trimSeries(state, wide, 190);
    expect(seriesAt(state, wide)!.length - HEAD).toBeLessThanOrEqual(10 * wide.stride + Math.ceil((10 * wide.stride) / 4) + wide.stride);
    expect(seriesTiles(seriesAt(state, wide), wide.stride)).toEqual(Array.from({ length: 10 }, (_, i) => 190 + i));
    trimSeries(state, wide, 1_000);
    expect(seriesAt(state, wide)!.length).toBe(HEAD);
    expect(seriesAt(state, wide)![LAST_TS]).toBe(199);
  });
});
