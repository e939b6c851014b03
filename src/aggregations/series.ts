/**
 * A tile series as one double array, so an event touches one object per
 * series and no boxed number: [lastTs, start, end, tiles...]. The tiles are
 * sparse, sorted by tile index, interleaved: per tile its index, count, then
 * sum units and scale, min, max and the moments as the plan lays them out
 * (`stride`). The held tiles are the elements [start, end), absolute
 * offsets (start >= HEAD); the array's length is HEAD plus its capacity.
 *
 * Capacity. A full array first drops its expired tiles; the rest move to
 * the front when that frees a quarter of the tiles held (at least one),
 * else go to an array with that much room. So copying stays amortized O(1)
 * per tile and the spare room is about a quarter of the live tiles, not the
 * up-to-double of doubling (memory per state: a 90-day series of 3-day
 * tiles holds 30).
 */
import { zeros } from './arrays.ts';
import { addToSum } from './numbers.ts';
import { currentTile, type SeriesPlan } from './plan.ts';
import { seriesAt, type EntityState } from './state.ts';

export type SeriesState = number[];

/** Newest event time the series took, for freshness. */
export const LAST_TS = 0;
export const START = 1;
export const END = 2;
/** Offset of the first tile element. */
export const HEAD = 3;

/** A series with room for `capacity` elements and no tile. */
export function newSeries(lastTs: number, capacity: number): SeriesState {
  const s = zeros(HEAD + capacity);
  s[LAST_TS] = lastTs;
  s[START] = HEAD;
  s[END] = HEAD;
  return s;
}

/** Spare room, in elements, for `live` elements of tiles of `stride`. */
function slack(live: number, stride: number): number {
  return stride * Math.max(1, Math.floor(live / stride / 4));
}

/** The tiles at [start, end) of `s` in a new array with `slack` spare room. */
function moved(s: SeriesState, start: number, end: number, stride: number): SeriesState {
  const live = end - start;
  const out = newSeries(s[LAST_TS]!, live + slack(live, stride));
  for (let j = start; j < end; j++) out[HEAD + j - start] = s[j]!;
  out[END] = HEAD + live;
  return out;
}

/** Room for one more tile in a full series: see the capacity rule above. Returns the series (maybe a new array). */
function makeRoom(s: SeriesState, stride: number, lo: number): SeriesState {
  const end = s[END]!;
  let start = s[START]!;
  while (start < end && s[start]! < lo) start += stride;
  const live = end - start;
  if (s.length - HEAD - live < slack(live, stride)) return moved(s, start, end, stride);
  s.copyWithin(HEAD, start, end);
  s[START] = HEAD;
  s[END] = HEAD + live;
  return s;
}

/** Inserts a blank tile at element offset `at` (start <= at <= end, lo <= tile); returns its offset, as the tiles may move. */
function insertTile(state: EntityState, p: SeriesPlan, at: number, tile: number, lo: number): number {
  const w = p.stride;
  let s = seriesAt(state, p)!;
  if (s[END]! + w > s.length) {
    const end = s[END]!;
    s = state.slots[p.slot] = makeRoom(s, w, lo);
    // The dropped tiles are expired, so all before `at`: it moves with the last tile.
    at += s[END]! - end;
  }
  const end = s[END]!;
  if (at < end) s.copyWithin(at + w, at, end);
  const blank = p.blank;
  for (let k = 0; k < w; k++) s[at + k] = blank[k]!;
  s[at] = tile;
  s[END] = end + w;
  return at;
}

/** Drops tiles before `lo` by moving the start; a series left with far more room than tiles moves to a smaller array. */
export function trimSeries(state: EntityState, p: SeriesPlan, lo: number): void {
  const s = seriesAt(state, p)!;
  const w = p.stride;
  const end = s[END]!;
  let j = s[START]!;
  while (j < end && s[j]! < lo) j += w;
  s[START] = j;
  const live = end - j;
  // A quiet series holds no room; one burst must not keep its room either.
  if (live === 0) {
    if (s.length > HEAD) state.slots[p.slot] = newSeries(s[LAST_TS]!, 0);
  } else if (s.length - HEAD > 2 * live + w) state.slots[p.slot] = moved(s, j, end, w);
}

/**
 * Adds one event to a series: `v` is the field's value (0 for plain counts)
 * and `d` its decimals (see numbers.ts), both computed once per event.
 */
export function addToSeries(state: EntityState, p: SeriesPlan, v: number, d: number, t: number, now: number): boolean {
  const tile = Math.floor(t / p.tileMs);
  const lo = currentTile(now, p.tileMs) - p.spanTiles + 1;
  if (tile < lo && t + p.maxTtlMs <= now) return false;
  const w = p.stride;
  let s = seriesAt(state, p);
  if (s === undefined) s = state.slots[p.slot] = newSeries(t, tile < lo ? 0 : w);
  else if (t > s[LAST_TS]!) s[LAST_TS] = t;
  if (tile < lo) return true;

  const start = s[START]!;
  let j = s[END]! - w;
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
