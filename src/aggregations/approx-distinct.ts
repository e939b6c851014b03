/**
 * approx_distinct: the distinct values (as distinct_count counts them) in a
 * window, or since the feature was last fresh (`window: "lifetime"`).
 *
 * A slot starts exact: the 52-bit hash of each value (dedup.ts valueHash)
 * with its tiles, pruned as distinct_count prunes its values (the newest tile
 * at or before the current one, plus tiles ahead of it), so the count is
 * exact. When more than EXACT_MAX hashes are held it switches to HyperLogLog
 * registers per tile (hll.ts): each hash goes to the tiles it was held for,
 * which is all any later window can read. A window merges its tiles'
 * registers by max (the registers of the union) and estimates; the slot
 * returns to exact mode once every register tile has left the span.
 * Lifetime slots hold everything in tile 0 and restart like the other
 * lifetime slots (update.ts `live`).
 *
 * Registers that a newer tile (at or before the current one) matches or
 * beats are cleared at each tile edge: lossless, and what remains per
 * register is its decreasing run of maxima from the newest tile back.
 *
 * State: exact, about 9 bytes per value (7 of hash, 1-2 of tiles), so at
 * most ~1.2 KB; registers, per tile about 2 bytes per non-empty register
 * (sparse) or about 1.8 KB (dense, hll.ts), whichever is shorter. A lifetime
 * slot thus stays under 2 KB at any count; a windowed one while its tiles
 * hold about 1,000 non-empty registers in all, growing to about one dense
 * tile plus the pruned older tiles beyond (18 KB for 300,000 values over
 * 28 tiles).
 */
import { readTiles, writeTiles, type ByteReader, type ByteWriter } from './bytes.ts';
import { HASH_HIGH_LIMIT, valueHash } from './dedup.ts';
import { M, addHash, estimate, mergeInto, readRegisters, writeRegisters } from './hll.ts';
import type { ApproxPlan, Output } from './plan.ts';
import { currentTile } from './tiles.ts';
import { approxAt, type ApproxState, type EntityState } from './state.ts';
import { eachTile, anyTileIn, noteTile, readTileSet, sweepValues, tileEdge, writeTileSet, type Tiles } from './tile-set.ts';
import { keyValue, live } from './update.ts';

/** Up to this many distinct values in its span a slot counts exactly. */
export const EXACT_MAX = 128;
const TWO_32 = 2 ** 32;

type ApproxOutput = Extract<Output, { kind: 'approx' }>;

/** The current tile and the first tile of the slot's span at `now` (both 0 for lifetime slots). */
function span(p: ApproxPlan, now: number): [lo: number, cur: number] {
  if (p.lifetime) return [0, 0];
  const cur = currentTile(now, p.tileMs);
  return [cur - p.spanTiles + 1, cur];
}

function fresh(t: number, cur: number): ApproxState {
  return { lastTs: t, exact: new Map(), registers: undefined, sweptTile: cur };
}

/** Moves an exact slot to registers: each hash into every tile it is held for. */
function toRegisters(s: ApproxState, exact: Map<number, Tiles>): void {
  const registers = new Map<number, Uint8Array>();
  exact.forEach((tiles, h) => {
    eachTile(tiles, (tile) => {
      let regs = registers.get(tile);
      if (regs === undefined) registers.set(tile, (regs = new Uint8Array(M)));
      addHash(regs, h);
    });
  });
  s.exact = undefined;
  s.registers = registers;
}

/**
 * Clears each register of a tile that a newer tile at or before `cur`
 * matches or beats: every later window holding the older tile also holds
 * the newer one, so the register never decides a max again. What is left
 * is, per register, its strictly decreasing maxima from the newest tile back.
 */
function pruneRegisters(registers: Map<number, Uint8Array>, cur: number): void {
  const tiles = [...registers.keys()].filter((t) => t <= cur).sort((a, b) => b - a);
  if (tiles.length < 2) return;
  const best = registers.get(tiles[0]!)!.slice();
  for (let k = 1; k < tiles.length; k++) {
    const regs = registers.get(tiles[k]!)!;
    let kept = false;
    for (let i = 0; i < M; i++) {
      if (regs[i]! <= best[i]!) regs[i] = 0;
      else {
        best[i] = regs[i]!;
        kept = true;
      }
    }
    if (!kept) registers.delete(tiles[k]!);
  }
}

/** Drops what no window at `cur` or later reads; an emptied register slot is exact again. */
export function sweepApprox(s: ApproxState, lo: number, cur: number): void {
  if (s.exact !== undefined) sweepValues(s.exact, lo, cur);
  else {
    const registers = s.registers!;
    for (const tile of registers.keys()) if (tile < lo) registers.delete(tile);
    if (cur !== s.sweptTile) pruneRegisters(registers, cur);
    if (registers.size === 0) {
      s.exact = new Map();
      s.registers = undefined;
    }
  }
  s.sweptTile = cur;
}

export function addApprox(state: EntityState, p: ApproxPlan, fields: Record<string, unknown>, t: number, now: number): boolean {
  const value = keyValue(fields[p.field]);
  if (value === undefined) return false;
  let s = approxAt(state, p);
  let tile = 0;
  // Not span(): no tuple per event.
  const cur = p.lifetime ? 0 : currentTile(now, p.tileMs);
  const lo = p.lifetime ? 0 : cur - p.spanTiles + 1;
  if (p.lifetime) {
    const how = live(s, p.maxTtlMs, t, now);
    if (how === 'skip') return false;
    if (how === 'restart' || s === undefined) s = state.slots[p.slot] = fresh(t, 0);
    else if (t > s.lastTs) s.lastTs = t;
  } else {
    tile = Math.floor(t / p.tileMs);
    if (tile < lo && t + p.maxTtlMs <= now) return false;
    if (s === undefined) s = state.slots[p.slot] = fresh(t, cur);
    else if (t > s.lastTs) s.lastTs = t;
    if (tile < lo) return true;
    if (cur > s.sweptTile) sweepApprox(s, lo, cur);
  }
  const h = valueHash(value);
  if (s.exact !== undefined) {
    noteTile(s.exact, h, tile, lo, cur);
    if (s.exact.size > EXACT_MAX) toRegisters(s, s.exact);
    return true;
  }
  const registers = s.registers!;
  let regs = registers.get(tile);
  if (regs === undefined) registers.set(tile, (regs = new Uint8Array(M)));
  addHash(regs, h);
  return true;
}

/** The feature's value at `now`, or undefined when it has lapsed. */
export function approxValue(o: ApproxOutput, state: EntityState, now: number): number | undefined {
  const s = approxAt(state, o.slot);
  if (s === undefined || s.lastTs + o.feature.ttlMs <= now) return undefined;
  const cur = o.slot.lifetime ? 0 : currentTile(now, o.slot.tileMs);
  const lo = o.slot.lifetime ? 0 : cur - o.tiles + 1;
  if (s.exact !== undefined) {
    let n = 0;
    for (const tiles of s.exact.values()) if (anyTileIn(tiles, lo, cur)) n++;
    return n;
  }
  const merged = new Uint8Array(M);
  s.registers!.forEach((regs, tile) => {
    if (tile >= lo && tile <= cur) mergeInto(merged, regs);
  });
  return estimate(merged);
}

/** Earliest time after `now` at which approxValue may differ, or Infinity. */
export function approxChange(o: ApproxOutput, state: EntityState, now: number): number {
  const s = approxAt(state, o.slot);
  if (s === undefined) return Infinity;
  let next = Infinity;
  const at = (t: number) => {
    if (t > now && t < next) next = t;
  };
  at(s.lastTs + o.feature.ttlMs);
  if (o.slot.lifetime) return next;
  const T = o.slot.tileMs;
  const cur = currentTile(now, T);
  if (s.exact !== undefined) for (const tiles of s.exact.values()) next = tileEdge(tiles, T, o.tiles, cur, now, next);
  else for (const i of s.registers!.keys()) at((i > cur ? i : i + o.tiles) * T + 1);
  return next;
}

export function evictApprox(plans: readonly ApproxPlan[], state: EntityState, now: number): void {
  for (const p of plans) {
    const s = approxAt(state, p);
    if (s === undefined) continue;
    if (!p.lifetime) {
      const [lo, cur] = span(p, now);
      sweepApprox(s, lo, cur);
    }
    const empty = p.lifetime || s.exact?.size === 0;
    if (empty && s.lastTs + p.maxTtlMs <= now) state.slots[p.slot] = undefined;
  }
}

/**
 * Per slot: 0 = absent, else newest - lastTs + 1; then 0 = exact: count,
 * (u32 LE low hash bits, high bits, tile list); or 1 = registers: tile list,
 * registers per tile (hll.ts). Lifetime slots write no tile lists (all tile 0).
 */
export function writeApprox(w: ByteWriter, plans: readonly ApproxPlan[], state: EntityState, newest: number): void {
  for (const p of plans) {
    const s = approxAt(state, p);
    w.varint(s === undefined ? 0 : newest - s.lastTs + 1);
    if (s === undefined) continue;
    const newestTile = p.lifetime ? 0 : Math.floor(newest / p.tileMs);
    if (s.exact !== undefined) {
      w.varint(0);
      w.varint(s.exact.size);
      s.exact.forEach((tiles, h) => {
        w.u32(h % TWO_32);
        w.varint(Math.floor(h / TWO_32));
        if (!p.lifetime) writeTileSet(w, tiles, newestTile);
      });
      continue;
    }
    w.varint(1);
    const tiles = [...s.registers!.keys()].sort((a, b) => a - b);
    if (!p.lifetime) writeTiles(w, tiles, newestTile);
    for (const tile of tiles) writeRegisters(w, s.registers!.get(tile)!);
  }
}

export function readApprox(r: ByteReader, plans: readonly ApproxPlan[], state: EntityState, newest: number): void {
  for (const p of plans) {
    const present = r.varint();
    if (present === 0) continue;
    const s: ApproxState = { lastTs: newest - present + 1, exact: undefined, registers: undefined, sweptTile: -Infinity };
    const newestTile = p.lifetime ? 0 : Math.floor(newest / p.tileMs);
    const mode = r.varint();
    if (mode === 0) {
      const n = r.count();
      r.check(n <= EXACT_MAX, 'too many exact approx_distinct values');
      const exact = new Map<number, Tiles>();
      for (let i = 0; i < n; i++) {
        const low = r.u32();
        const high = r.varint();
        r.check(high < HASH_HIGH_LIMIT, 'bad value hash');
        exact.set(high * TWO_32 + low, p.lifetime ? 0 : readTileSet(r, newestTile));
      }
      r.check(exact.size === n, 'repeated approx_distinct value');
      s.exact = exact;
    } else {
      r.check(mode === 1, 'bad approx_distinct mode');
      const registers = new Map<number, Uint8Array>();
      for (const tile of p.lifetime ? [0] : readTiles(r, newestTile, 1)) registers.set(tile, readRegisters(r));
      s.registers = registers;
    }
    state.slots[p.slot] = s;
  }
}
