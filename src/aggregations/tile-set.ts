/**
 * The tiles a value occurs in (distinct_count, approx_distinct in exact
 * mode): the newest tile at or before the current tile, if still in the
 * span, plus any tiles ahead of it (events within the allowed clock skew).
 * Almost always that is one tile, held as a plain number so that a value
 * costs no array of its own; several are an ascending array.
 */
import type { ByteReader, ByteWriter } from './bytes.ts';
import { readTiles } from './bytes.ts';

export type Tiles = number | number[];

/** Keeps the tiles after `cur` and the newest one at or before it; none before `lo`. As a number when one is left, undefined when none. */
function pruned(tiles: number[], lo: number, cur: number): Tiles | undefined {
  let keep = tiles.length;
  while (keep > 0 && tiles[keep - 1]! > cur) keep--;
  const from = keep > 0 && tiles[keep - 1]! >= lo ? keep - 1 : keep;
  const n = tiles.length - from;
  if (n === 0) return undefined;
  if (n === 1) return tiles[from]!;
  if (from > 0) {
    tiles.copyWithin(0, from);
    tiles.length = n;
  }
  return tiles;
}

// The sweep in progress lives here, so that its callback is one function, not a closure allocated per sweep.
let sweeping: Map<unknown, Tiles> | undefined;
let sweepLo = 0;
let sweepCur = 0;

function sweepOne(tiles: Tiles, value: unknown): void {
  const left = swept(tiles, sweepLo, sweepCur);
  if (left === undefined) sweeping!.delete(value);
  else if (left !== tiles) sweeping!.set(value, left);
}

/** Prunes the tiles of every value, dropping values left without tiles. */
export function sweepValues<K>(values: Map<K, Tiles>, lo: number, cur: number): void {
  sweeping = values;
  sweepLo = lo;
  sweepCur = cur;
  // forEach, not for-of: destructuring each [value, tiles] entry allocated a pair per value per sweep.
  values.forEach(sweepOne);
  sweeping = undefined;
}

/** The tiles `held` (undefined: none yet) once `tile` is among them (lo <= tile): a number, or `held` itself changed in place, or a new array. */
export function noted(held: Tiles | undefined, tile: number, lo: number, cur: number): Tiles {
  if (held === undefined) return tile;
  if (typeof held === 'number') {
    if (held === tile) return held;
    if (held <= cur && tile <= cur) return tile > held ? tile : held;
    return pruned(held < tile ? [held, tile] : [tile, held], lo, cur)!;
  }
  let j = held.length - 1;
  if (held[j] === tile) return held;
  while (j >= 0 && held[j]! > tile) j--;
  if (j < 0 || held[j] !== tile) {
    held.push(tile);
    held.copyWithin(j + 2, j + 1, held.length - 1);
    held[j + 1] = tile;
  }
  return pruned(held, lo, cur)!;
}

/** Records that `value` occurs in `tile` (lo <= tile). */
export function noteTile<K>(values: Map<K, Tiles>, value: K, tile: number, lo: number, cur: number): void {
  const held = values.get(value);
  const left = noted(held, tile, lo, cur);
  if (left !== held) values.set(value, left);
}

/** The tiles left once pruned for a sweep at `cur` (none before `lo`), or undefined when none. */
export function swept(tiles: Tiles, lo: number, cur: number): Tiles | undefined {
  // One tile is the newest at or before cur, or one ahead of it: kept while in the span.
  if (typeof tiles === 'number') return tiles < lo ? undefined : tiles;
  return pruned(tiles, lo, cur);
}

/** Whether any of the tiles is in [lo, hi]. */
export function anyTileIn(tiles: Tiles, lo: number, hi: number): boolean {
  if (typeof tiles === 'number') return tiles >= lo && tiles <= hi;
  for (const i of tiles) if (i >= lo && i <= hi) return true;
  return false;
}

/**
 * Earliest time after `now` at which a window of `span` tiles of `tileMs`
 * stops or starts seeing one of the tiles (`cur` the current tile), or
 * Infinity; `next` is the best so far.
 */
export function tileEdge(tiles: Tiles, tileMs: number, span: number, cur: number, now: number, next: number): number {
  if (typeof tiles === 'number') {
    const t = (tiles > cur ? tiles : tiles + span) * tileMs + 1;
    return t > now && t < next ? t : next;
  }
  for (const i of tiles) {
    const t = (i > cur ? i : i + span) * tileMs + 1;
    if (t > now && t < next) next = t;
  }
  return next;
}

/** Calls `each` for every tile, ascending. */
export function eachTile(tiles: Tiles, each: (tile: number) => void): void {
  if (typeof tiles === 'number') each(tiles);
  else for (const i of tiles) each(i);
}

/** The tile list as bytes.ts writeTiles writes it. */
export function writeTileSet(w: ByteWriter, tiles: Tiles, newestTile: number): void {
  if (typeof tiles === 'number') {
    w.varint(1);
    w.varint(newestTile - tiles);
    return;
  }
  w.varint(tiles.length);
  for (let j = 0; j < tiles.length; j++) w.varint(j === 0 ? newestTile - tiles[0]! : tiles[j]! - tiles[j - 1]! - 1);
}

/** A non-empty tile list as written by writeTileSet. */
export function readTileSet(r: ByteReader, newestTile: number): Tiles {
  const tiles = readTiles(r, newestTile, 1);
  return tiles.length === 1 ? tiles[0]! : tiles;
}
