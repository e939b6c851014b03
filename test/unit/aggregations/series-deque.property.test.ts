/**
 * A series' tiles are held in [start, end) of its region of its source's
 * block, with room to spare (series.ts): trimming moves the start; an
 * insert into a full region drops the expired tiles and moves the rest only
 * then, or grows the region by a quarter. Against a plain Map of tile ->
 * count per series, through appends, out-of-order inserts and trims of
 * their own (evict), with the clock moving forward; the room stays within a
 * quarter of the most tiles a window can see, plus one tile, and the
 * regions of a block stay back to back, whichever series grows or shrinks.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SeriesPlan } from '../../../src/aggregations/plan.ts';
import { currentTile } from '../../../src/aggregations/tiles.ts';
import { END, HEADER, LAST_TS, LIMIT, START, addToSeries, hasSeries, regionBase, trimSeries, type SeriesBlock } from '../../../src/aggregations/series.ts';
import { emptyState, seriesAt, type EntityState } from '../../../src/aggregations/state.ts';
import { seriesTiles } from './fixtures.ts';

const SPAN = 5;
const plan: SeriesPlan = {
  index: 0,
  slot: 0,
  head: 0,
  blockHead: HEADER,
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
/** Three series in one block, of other strides and spans: the middle one's region moves whenever the first's is resized. */
const block: SeriesPlan[] = [
  { ...plan, blockHead: 3 * HEADER },
  { ...plan, index: 1, head: HEADER, blockHead: 3 * HEADER, spanTiles: 3, needMin: true, stride: 3, minAt: 2, blank: [0, 0, Infinity] },
  { ...plan, index: 2, head: 2 * HEADER, blockHead: 3 * HEADER, spanTiles: 8 },
];
const shape = { entity: 'user', entityIndex: 0, sources: [], slotCount: 1 };

const add = fc.record({ kind: fc.constant('add' as const), series: fc.nat(2), back: fc.nat(SPAN + 2), ahead: fc.boolean(), advance: fc.nat(3) });
const op = fc.oneof({ weight: 6, arbitrary: add }, { weight: 3, arbitrary: fc.record({ kind: fc.constant('trim' as const), series: fc.nat(2), advance: fc.nat(3) }) });

/** Elements of room in the region of the series at `p`. */
const room = (s: SeriesBlock, p: SeriesPlan) => s[p.head + LIMIT]! - regionBase(s, p);

/** Live tiles in [lo, ...) as tile -> count. */
function visible(state: EntityState, p: SeriesPlan, lo: number): Map<number, number> {
  const s = seriesAt(state, p);
  const out = new Map<number, number>();
  if (s === undefined) return out;
  for (let j = s[p.head + START]!; j < s[p.head + END]!; j += p.stride) if (s[j]! >= lo) out.set(s[j]!, s[j + 1]!);
  return out;
}

/** Runs the ops against a Map of tile -> count per series of `plans` (one block), checking every series after each. */
function check(plans: readonly SeriesPlan[], ops: readonly (typeof op extends fc.Arbitrary<infer T> ? T : never)[]): void {
  const state = emptyState(shape);
  const refs = plans.map(() => new Map<number, number>());
  const newest = plans.map(() => -Infinity);
  let now = 100;
  for (const o of ops) {
    now += o.advance;
    const cur = currentTile(now, 1);
    const k = o.series % plans.length;
    const p = plans[k]!;
    const lo = cur - p.spanTiles + 1;
    const ref = refs[k]!;
    if (o.kind === 'trim') {
      if (hasSeries(seriesAt(state, p), p)) trimSeries(state, p, lo);
      for (const tile of [...ref.keys()]) if (tile < lo) ref.delete(tile);
      expect(seriesTiles(seriesAt(state, p), p).every((tile) => tile >= lo)).toBe(true);
    } else {
      const tile = o.ahead ? cur + (o.back % 3) : cur - o.back;
      expect(addToSeries(state, p, 0, 0, tile, now)).toBe(tile >= lo);
      if (tile >= lo) ref.set(tile, (ref.get(tile) ?? 0) + 1);
      if (tile >= lo) newest[k] = Math.max(newest[k]!, tile);
    }
    const s = seriesAt(state, p);
    if (s === undefined) continue;
    expect(s[plans.at(-1)!.head + LIMIT]).toBe(s.length);
    plans.forEach((q, i) => {
      const h = q.head;
      const idx = seriesTiles(s, q);
      expect(idx).toEqual([...idx].sort((a, b) => a - b));
      expect(new Set(idx).size).toBe(idx.length);
      expect(hasSeries(s, q)).toBe(newest[i] !== -Infinity);
      if (hasSeries(s, q)) expect(s[h + LAST_TS]).toBe(newest[i]);
      expect(regionBase(s, q)).toBe(i === 0 ? q.blockHead : s[plans[i - 1]!.head + LIMIT]);
      expect((s[h + START]! - regionBase(s, q)) % q.stride).toBe(0);
      expect(s[h + START]).toBeGreaterThanOrEqual(regionBase(s, q));
      expect(s[h + START]).toBeLessThanOrEqual(s[h + END]!);
      expect(s[h + END]).toBeLessThanOrEqual(s[h + LIMIT]!);
      // At most span tiles up to the current one and 2 ahead of it are visible: room for a quarter more (at least one), and one being added.
      expect(room(s, q)).toBeLessThanOrEqual((q.spanTiles + 2 + 1 + 1) * q.stride);
      const qlo = cur - q.spanTiles + 1;
      expect(visible(state, q, qlo)).toEqual(new Map([...refs[i]!].filter(([tile]) => tile >= qlo)));
    });
  }
}

describe('series tiles from a moving start', () => {
  it('hold exactly the counts a Map of tile -> count holds, ascending, none dropped that a window can see', () => {
    fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: 200 }), (ops) => check([plan], ops)), { numRuns: 500 });
  });

  it('stay within bounds without evict: a full region drops the expired tiles before it grows', () => {
    fc.assert(fc.property(fc.array(add, { minLength: 50, maxLength: 400 }), (ops) => check([plan], ops)), { numRuns: 200 });
  });

  it('keep every series of one block apart: resizing one region moves the next ones, tiles and bounds intact', () => {
    fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: 300 }), (ops) => check(block, ops)), { numRuns: 500 });
  });
});

describe('series capacity', () => {
  const wide: SeriesPlan = { ...plan, spanTiles: 1_000 };

  it('grows by about a quarter of the tiles held, keeping every tile, and gives the room back when its tiles expire', () => {
    const state = emptyState(shape);
    const rooms: number[] = [];
    for (let tile = 0; tile < 200; tile++) {
      addToSeries(state, wide, 0, 0, tile, 1);
      addToSeries(state, wide, 0, 0, tile, 1);
      const s = seriesAt(state, wide)!;
      if (rooms.at(-1) !== room(s, wide)) rooms.push(room(s, wide));
      const held = (tile + 1) * wide.stride;
      expect(s[END]! - s[START]!).toBe(held);
      expect(room(s, wide)).toBeLessThanOrEqual(held + Math.max(wide.stride, Math.ceil(held / 4)));
      expect(s.length).toBe(HEADER + room(s, wide));
    }
    // One tile at first, then growth by a quarter: few reallocations, never a doubling.
    expect(rooms[0]).toBe(wide.stride);
    expect(rooms.length).toBeLessThan(25);
    for (let k = 1; k < rooms.length; k++) expect(rooms[k]!).toBeLessThanOrEqual(1.25 * rooms[k - 1]! + wide.stride);
    expect(seriesTiles(seriesAt(state, wide), wide)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(visible(state, wide, 0).get(123)).toBe(2);
    trimSeries(state, wide, 190);
    expect(room(seriesAt(state, wide)!, wide)).toBeLessThanOrEqual(10 * wide.stride + Math.ceil((10 * wide.stride) / 4) + wide.stride);
    expect(seriesTiles(seriesAt(state, wide), wide)).toEqual(Array.from({ length: 10 }, (_, i) => 190 + i));
    trimSeries(state, wide, 1_000);
    expect(seriesAt(state, wide)!.length).toBe(HEADER);
    expect(seriesAt(state, wide)![LAST_TS]).toBe(199);
  });
});
