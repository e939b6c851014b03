/**
 * distinct_count values. Most entities see a few values in a window, so a
 * slot starts as one array, [value, tiles, value, tiles, ...] in first-seen
 * order, searched by scan (values are interned strings: the comparison
 * usually matches by identity). Past SMALL_MAX values it becomes a Map in
 * the same order, and a sweep that leaves at most SMALL_BACK values turns
 * it back (the gap keeps a slot near the limit from switching on every
 * event). Either way the order is the order a Map alone would keep, so the
 * serialized bytes do not depend on the form.
 */
import type { DistinctPlan } from './plan.ts';
import { currentTile } from './tiles.ts';
import { distinctAt, type DistinctState, type DistinctValues, type EntityState } from './state.ts';
import { anyTileIn, noteTile, noted, sweepValues, swept, tileEdge, type Tiles } from './tile-set.ts';
import { keyValue } from './update.ts';

/** Shared by every slot without values, frozen: adding a value makes a new array. */
const EMPTY: (string | Tiles)[] = Object.freeze([]) as never[];

/** Values held in the array form at most. */
export const SMALL_MAX = 32;
/** Up to this many values the array is replaced by one of the exact length on each new value. */
const EXACT_UP_TO = 8;
/** A Map swept down to this many values goes back to the array form. */
export const SMALL_BACK = 16;

function toMap(pairs: (string | Tiles)[]): Map<string, Tiles> {
  const values = new Map<string, Tiles>();
  for (let j = 0; j < pairs.length; j += 2) values.set(pairs[j] as string, pairs[j + 1] as Tiles);
  return values;
}

/** The values as an array when at most `max` (a sweep, or SMALL_MAX on reading state), else the Map. */
export function compacted(values: Map<string, Tiles>, max = SMALL_BACK): DistinctValues {
  if (values.size > max) return values;
  const pairs = new Array<string | Tiles>(2 * values.size);
  let j = 0;
  values.forEach((tiles, value) => {
    pairs[j++] = value;
    pairs[j++] = tiles;
  });
  return pairs;
}

export function distinctSize(values: DistinctValues): number {
  return Array.isArray(values) ? values.length / 2 : values.size;
}

/** Calls `each` per value and its tiles, in order. */
export function eachDistinct(values: DistinctValues, each: (value: string, tiles: Tiles) => void): void {
  if (!Array.isArray(values)) values.forEach((tiles, value) => each(value, tiles));
  else for (let j = 0; j < values.length; j += 2) each(values[j] as string, values[j + 1] as Tiles);
}

/** Values with a tile in [lo, hi]. */
export function distinctCount(values: DistinctValues, lo: number, hi: number): number {
  let n = 0;
  if (!Array.isArray(values)) {
    for (const tiles of values.values()) if (anyTileIn(tiles, lo, hi)) n++;
  } else for (let j = 1; j < values.length; j += 2) if (anyTileIn(values[j] as Tiles, lo, hi)) n++;
  return n;
}

/** tileEdge (tile-set.ts) over every value. */
export function distinctEdge(values: DistinctValues, tileMs: number, span: number, cur: number, now: number, next: number): number {
  if (!Array.isArray(values)) {
    for (const tiles of values.values()) next = tileEdge(tiles, tileMs, span, cur, now, next);
  } else for (let j = 1; j < values.length; j += 2) next = tileEdge(values[j] as Tiles, tileMs, span, cur, now, next);
  return next;
}

/** Prunes every value's tiles, dropping values left without any. */
export function sweepDistinct(d: DistinctState, lo: number, cur: number): void {
  d.sweptTile = cur;
  const values = d.values;
  if (!Array.isArray(values)) {
    sweepValues(values, lo, cur);
    d.values = compacted(values);
    return;
  }
  let w = 0;
  for (let j = 0; j < values.length; j += 2) {
    const left = swept(values[j + 1] as Tiles, lo, cur);
    if (left === undefined) continue;
    values[w] = values[j]!;
    values[w + 1] = left;
    w += 2;
  }
  if (w < values.length) values.length = w;
}

function note(d: DistinctState, value: string, tile: number, lo: number, cur: number): void {
  const values = d.values;
  if (!Array.isArray(values)) {
    noteTile(values, value, tile, lo, cur);
    return;
  }
  for (let j = 0; j < values.length; j += 2) {
    if (values[j] !== value) continue;
    const held = values[j + 1] as Tiles;
    const left = noted(held, tile, lo, cur);
    if (left !== held) values[j + 1] = left;
    return;
  }
  // The first few values get an array of exactly their length, not push's spare room (memory per state).
  if (values.length < 2 * EXACT_UP_TO) d.values = values.concat(value, tile);
  else if (values.length < 2 * SMALL_MAX) values.push(value, tile);
  else (d.values = toMap(values)).set(value, tile);
}

export function addDistinct(state: EntityState, p: DistinctPlan, fields: Record<string, unknown>, t: number, now: number): boolean {
  const value = keyValue(fields[p.field]);
  if (value === undefined) return false;
  const tile = Math.floor(t / p.tileMs);
  const cur = currentTile(now, p.tileMs);
  const lo = cur - p.spanTiles + 1;
  if (tile < lo && t + p.maxTtlMs <= now) return false;
  let d = distinctAt(state, p);
  if (d === undefined) d = state.slots[p.slot] = { lastTs: t, values: EMPTY, sweptTile: cur };
  else if (t > d.lastTs) d.lastTs = t;
  if (tile < lo) return true;
  if (cur > d.sweptTile) sweepDistinct(d, lo, cur);
  note(d, value, tile, lo, cur);
  return true;
}
