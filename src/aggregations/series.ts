/**
 * The tile series of one source in one double array (a block), so an event
 * touches one object for all the series it updates and no boxed number.
 * First a header per series at its plan's `head` (plan order):
 * [lastTs, start, end, limit]; then the series' regions, one after another:
 * a series owns the elements [base, limit), where base is the previous
 * series' limit (the first series': `blockHead`, just past the headers), and
 * the block ends at the last limit; regions grow and shrink on their own.
 * A series holds its tiles in [start, end) (offsets in the block, within
 * its region), sparse and sorted by tile index, interleaved: per tile its
 * index, count, then sum units and scale, min, max and the moments as the
 * plan lays them out (`stride`). A series without state (no event yet, or
 * evicted) has lastTs NO_TIME and an empty region.
 *
 * Capacity, per region. A full region first drops its expired tiles; the
 * rest move to the front when that frees a quarter of the tiles held (at
 * least one), else the region is resized to that much room (a new block).
 * So copying stays amortized O(1) per tile and the spare room is about a
 * quarter of the live tiles, not the up-to-double of doubling (memory per
 * state: a 90-day series of 3-day tiles holds 30).
 */
import { zeros } from './arrays.ts';
import { NO_TIME, addToSum } from './numbers.ts';
import type { SeriesPlan } from './plan.ts';
import { currentTile } from './tiles.ts';
import { seriesAt, type EntityState } from './state.ts';

export type SeriesBlock = number[];

/** Offsets within a series' header: its newest event time (for freshness), its tiles' bounds, its region's end. */
export const LAST_TS = 0;
export const START = 1;
export const END = 2;
export const LIMIT = 3;
/** Numbers in a series' header. */
export const HEADER = 4;

/** Where a series sits in its block (SeriesPlan). */
type Placed = Pick<SeriesPlan, 'head' | 'blockHead'>;

/** Whether the series at `p` has state in `s`. */
export const hasSeries = (s: SeriesBlock | undefined, p: Placed): s is SeriesBlock => s !== undefined && s[p.head + LAST_TS] !== NO_TIME;

/** First element of the series' region. */
export const regionBase = (s: SeriesBlock, p: Placed): number => (p.head === 0 ? p.blockHead : s[p.head - HEADER + LIMIT]!);

/** A block whose series have no state, but `p`'s has room for `capacity` elements. */
function newBlock(p: Placed, capacity: number): SeriesBlock {
  const s = zeros(p.blockHead + capacity);
  for (let h = 0; h < p.blockHead; h += HEADER) {
    const at = p.blockHead + (h > p.head ? capacity : 0);
    s[h + LAST_TS] = NO_TIME;
    s[h + START] = at;
    s[h + END] = at;
    s[h + LIMIT] = h >= p.head ? p.blockHead + capacity : at;
  }
  return s;
}

/** Spare room, in elements, for `live` elements of tiles of `stride`. */
function slack(live: number, stride: number): number {
  return stride * Math.max(1, Math.floor(live / stride / 4));
}

/** A new block in which `p`'s region holds the tiles at [start, end) of `s` and room for `capacity` elements in all; the other regions are copied as they are. */
function resized(s: SeriesBlock, p: Placed, start: number, end: number, capacity: number): SeriesBlock {
  const h = p.head;
  const base = regionBase(s, p);
  const limit = s[h + LIMIT]!;
  const shift = base + capacity - limit;
  const out = zeros(s.length + shift);
  for (let i = 0; i < base; i++) out[i] = s[i]!;
  for (let j = start; j < end; j++) out[base + j - start] = s[j]!;
  for (let i = limit; i < s.length; i++) out[i + shift] = s[i]!;
  out[h + START] = base;
  out[h + END] = base + end - start;
  out[h + LIMIT] = base + capacity;
  for (let k = h + HEADER; k < p.blockHead; k += HEADER) {
    out[k + START]! += shift;
    out[k + END]! += shift;
    out[k + LIMIT]! += shift;
  }
  return out;
}

/** Gives `p`'s region exactly `capacity` elements (at least its tiles'), in a new block. */
function resizeSeries(state: EntityState, p: SeriesPlan, capacity: number): SeriesBlock {
  const s = seriesAt(state, p)!;
  return (state.slots[p.slot] = resized(s, p, s[p.head + START]!, s[p.head + END]!, capacity));
}

/** Gives the series at `p`, which has no state, the newest event time `lastTs` and an empty region of `capacity` elements; returns its block. */
export function openSeries(state: EntityState, p: SeriesPlan, lastTs: number, capacity: number): SeriesBlock {
  const s = seriesAt(state, p) === undefined ? (state.slots[p.slot] = newBlock(p, capacity)) : resizeSeries(state, p, capacity);
  s[p.head + LAST_TS] = lastTs;
  return s;
}

/** Offset of the series' first tile at or after tile `lo` (its end if none). */
function firstLive(s: SeriesBlock, p: SeriesPlan, lo: number): number {
  const end = s[p.head + END]!;
  let j = s[p.head + START]!;
  while (j < end && s[j]! < lo) j += p.stride;
  return j;
}

/** Room for one more tile in a full region: see the capacity rule above. Returns the block (maybe a new one). */
function makeRoom(state: EntityState, p: SeriesPlan, lo: number): SeriesBlock {
  const s = seriesAt(state, p)!;
  const h = p.head;
  const w = p.stride;
  const end = s[h + END]!;
  const start = firstLive(s, p, lo);
  const live = end - start;
  const base = regionBase(s, p);
  if (s[h + LIMIT]! - base - live < slack(live, w)) return (state.slots[p.slot] = resized(s, p, start, end, live + slack(live, w)));
  s.copyWithin(base, start, end);
  s[h + START] = base;
  s[h + END] = base + live;
  return s;
}

/** Inserts a blank tile at element offset `at` (start <= at <= end, lo <= tile); returns its offset, as the tiles may move. */
function insertTile(state: EntityState, p: SeriesPlan, at: number, tile: number, lo: number): number {
  const h = p.head;
  const w = p.stride;
  let s = seriesAt(state, p)!;
  if (s[h + END]! + w > s[h + LIMIT]!) {
    const end = s[h + END]!;
    s = makeRoom(state, p, lo);
    // The dropped tiles are expired, so all before `at`: it moves with the last tile.
    at += s[h + END]! - end;
  }
  const end = s[h + END]!;
  if (at < end) s.copyWithin(at + w, at, end);
  const blank = p.blank;
  for (let k = 0; k < w; k++) s[at + k] = blank[k]!;
  s[at] = tile;
  s[h + END] = end + w;
  return at;
}

/** Drops tiles before `lo` by moving the start; a region left with far more room than tiles is resized. */
export function trimSeries(state: EntityState, p: SeriesPlan, lo: number): void {
  const s = seriesAt(state, p)!;
  const h = p.head;
  const w = p.stride;
  const j = firstLive(s, p, lo);
  s[h + START] = j;
  const live = s[h + END]! - j;
  const room = s[h + LIMIT]! - regionBase(s, p);
  // A quiet series holds no room; one burst must not keep its room either.
  if (live === 0) {
    if (room > 0) resizeSeries(state, p, 0);
  } else if (room > 2 * live + w) resizeSeries(state, p, live + slack(live, w));
}

/**
 * Adds one event to a series: `v` is the field's value (0 for plain counts)
 * and `d` its decimals (see numbers.ts), both computed once per event.
 */
export function addToSeries(state: EntityState, p: SeriesPlan, v: number, d: number, t: number, now: number): boolean {
  const tile = Math.floor(t / p.tileMs);
  const lo = currentTile(now, p.tileMs) - p.spanTiles + 1;
  if (tile < lo && t + p.maxTtlMs <= now) return false;
  const h = p.head;
  const w = p.stride;
  let s = seriesAt(state, p);
  if (s === undefined) s = state.slots[p.slot] = newBlock(p, tile < lo ? 0 : w);
  if (t > s[h + LAST_TS]!) s[h + LAST_TS] = t;
  if (tile < lo) return true;

  const start = s[h + START]!;
  let j = s[h + END]! - w;
  if (j < start || s[j]! < tile) {
    j = insertTile(state, p, j + w, tile, lo);
    s = seriesAt(state, p)!;
  } else if (s[j] !== tile) {
    while (j >= start && s[j]! > tile) j -= w;
    if (j < start || s[j] !== tile) {
      j = insertTile(state, p, j + w, tile, lo);
      s = seriesAt(state, p)!;
    }
  }
  const n = ++s[j + 1]!;
  if (p.needSum) addToSum(s, j + 2, v, d);
  if (p.momentsAt >= 0) {
    // Welford: numerically stable mean and M2 (sum of squared deviations) of the tile.
    const m = p.momentsAt;
    const delta = v - s[j + m]!;
    s[j + m]! += delta / n;
    s[j + m + 1]! += delta * (v - s[j + m]!);
  }
  if (p.minAt >= 0 && v < s[j + p.minAt]!) s[j + p.minAt] = v;
  if (p.maxAt >= 0 && v > s[j + p.maxAt]!) s[j + p.maxAt] = v;
  return true;
}

/** Forgets the series at `p` (its region is empty), and its block once no series in it has state. */
export function dropSeries(state: EntityState, p: SeriesPlan): void {
  const s = seriesAt(state, p)!;
  s[p.head + LAST_TS] = NO_TIME;
  for (let h = 0; h < p.blockHead; h += HEADER) if (s[h + LAST_TS] !== NO_TIME) return;
  state.slots[p.slot] = undefined;
}
