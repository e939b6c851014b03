/**
 * Binary state layout, version 2 (all integers varints unless noted):
 *
 *   u8 version | entity index | u32 LE layout fingerprint | newest: 0 = none, else zigzag + 1
 *   strings: count, then (utf-8 length, bytes); every string below is an index into this table
 *   dedup: source count, then per source of the entity: count; if count > 0 the arrival clock
 *     (zigzag), then per id (u32 LE low hash bits, high hash bits, clock - arrival)
 *   per series slot: 0 = absent, else newest - lastTs + 1; tile count; tiles
 *   per last slot: 0 = absent, else newest - ts + 1; value (number | string | dim x f32 LE)
 *   per distinct slot: 0 = absent, else newest - lastTs + 1; value count; (value, tile count, tiles)
 *   per last_k slot: entry count; (value, newest - time)
 *   per lifetime slot: 0 = absent, else newest - lastTs + 1; count; sum (scaled); min; max
 *   per first/first_k slot: 0 = absent, else newest - lastTs + 1; entry count; (value, newest - time)
 *   per top_k slot: 0 = absent, else newest - lastTs + 1; value count; (value, tile list, count per tile)
 *   per approx_quantile slot: 0 = absent, else newest - lastTs + 1; tile list; per tile: bucket count,
 *     (bucket key as zigzag delta from the previous key, count), keys ascending
 *   per approx_distinct slot: see approx-distinct.ts (no bytes in layouts without one, so
 *     states written before the operator existed read unchanged)
 *
 * Tile lists: first `newestTile - tile`, then the gap to each next tile minus one.
 * A series tile: count, then its sum (units at a scale), min, max, and the
 * Welford mean and M2 (stddev/variance) as needed.
 * Numbers with up to 6 decimals are one varint (see ByteWriter.scaled).
 *
 * Version 1 differs only in its dedup section: count, then (id, newest - event
 * time), ids in the string table. Read for upgrades: each id is remembered
 * under every source of the entity (v1 ids were unique across them), as
 * counted at the newest event time, which also starts the arrival clocks.
 */
import { StateCorruptError } from '../errors.ts';
import { ByteReader, ByteWriter, readTiles, writeTiles } from './bytes.ts';
import { HASH_HIGH_LIMIT, UNUSED, dedupClock, dedupSize, eventKeyHash, hashAt, arrivalAt, newDedup, restore, setClock } from './dedup.ts';
import { readApprox, writeApprox } from './approx-distinct.ts';
import { SMALL_MAX, compacted, distinctSize, eachDistinct } from './distinct.ts';
import { intern } from './intern.ts';
import { recentSlot, valueAt } from './recent.ts';
import { NO_TIME } from './numbers.ts';
import { StringTable } from './string-table.ts';
import { readTileSet, writeTileSet, type Tiles } from './tile-set.ts';
import type { EntityPlan } from './plan.ts';
import { END, LAST_TS, START, hasSeries, openSeries } from './series.ts';
import { dedupAt, distinctAt, emptyState, firstAt, lastAt, lifetimeAt, quantileAt, recentAt, seriesAt, topAt, type EntityState, type LastValue } from './state.ts';

export const STATE_VERSION = 2;
const PREVIOUS_VERSION = 1;
const TWO_32 = 2 ** 32;

/** An optional integer: 0 = none, else zigzag + 1. */
function writeOptional(w: ByteWriter, n: number | undefined): void {
  w.varint(n === undefined ? 0 : (n >= 0 ? n * 2 : -n * 2 - 1) + 1);
}

function readOptional(r: ByteReader): number | undefined {
  const z = r.varint();
  return z === 0 ? undefined : (z - 1) % 2 === 0 ? (z - 1) / 2 : -z / 2;
}

function stringTable(plan: EntityPlan, state: EntityState): StringTable {
  const table = new StringTable();
  for (const p of plan.lasts) {
    const l = lastAt(state, p);
    if (typeof l?.value === 'string') table.add(l.value);
  }
  for (const p of plan.distincts) {
    const d = distinctAt(state, p);
    if (d === undefined) continue;
    // The array form adds its values one by one: they take the numbers a block would (string-table.ts).
    if (Array.isArray(d.values)) for (let j = 0; j < d.values.length; j += 2) table.add(d.values[j] as string);
    else table.addKeys(d.values);
  }
  for (const p of plan.recents) {
    const r = recentAt(state, p);
    if (r) for (let i = 0; i < r.length - 1; i++) table.add(valueAt(r, i));
  }
  for (const p of plan.firsts) for (const v of firstAt(state, p)?.values ?? []) if (typeof v === 'string') table.add(v);
  for (const p of plan.tops) for (const v of topAt(state, p)?.values.keys() ?? []) table.add(v);
  return table;
}

export function serializeState(plan: EntityPlan, state: EntityState): Uint8Array {
  const w = new ByteWriter();
  const newest = state.newest === NO_TIME ? 0 : state.newest;
  w.u8(STATE_VERSION);
  w.varint(plan.entityIndex);
  w.u32(plan.fingerprint);
  writeOptional(w, state.newest === NO_TIME ? undefined : state.newest);
  const table = stringTable(plan, state);
  table.write(w);
  w.varint(plan.sources.length);
  for (let s = 0; s < plan.sources.length; s++) {
    const d = dedupAt(state, s);
    const n = dedupSize(d);
    w.varint(n);
    // Without ids the clock decides nothing, so it is not kept.
    if (n === 0) continue;
    const clock = dedupClock(d);
    w.zigzag(clock);
    for (let i = 0; i < n; i++) {
      const h = hashAt(d, i);
      w.u32(h % TWO_32);
      w.varint(Math.floor(h / TWO_32));
      w.varint(clock - arrivalAt(d, i));
    }
  }
  for (const p of plan.series) {
    const a = seriesAt(state, p);
    const h = p.head;
    if (!hasSeries(a, p)) {
      w.varint(0);
      continue;
    }
    w.varint(newest - a[h + LAST_TS]! + 1);
    writeTiles(w, a, Math.floor(newest / p.tileMs), p.stride, a[h + START]!, a[h + END]!);
    for (let j = a[h + START]!, end = a[h + END]!; j < end; j += p.stride) {
      w.varint(a[j + 1]!);
      if (p.needSum) w.scaled(a[j + 2]!, a[j + 3]!);
      if (p.minAt >= 0) w.num(a[j + p.minAt]!);
      if (p.maxAt >= 0) w.num(a[j + p.maxAt]!);
      if (p.momentsAt >= 0) {
        w.num(a[j + p.momentsAt]!);
        w.num(a[j + p.momentsAt + 1]!);
      }
    }
  }
  for (const p of plan.lasts) {
    const l = lastAt(state, p);
    w.varint(l === undefined ? 0 : newest - l.ts + 1);
    if (l === undefined || p.field === undefined) continue;
    if (typeof l.value === 'number') w.num(l.value);
    else if (typeof l.value === 'string') table.ref(w, l.value);
    else w.f32s(l.value);
  }
  for (const p of plan.distincts) {
    const d = distinctAt(state, p);
    w.varint(d === undefined ? 0 : newest - d.lastTs + 1);
    if (d === undefined) continue;
    const values = d.values;
    w.varint(distinctSize(values));
    const newestTile = Math.floor(newest / p.tileMs);
    let k = Array.isArray(values) ? -1 : table.blockStart(values);
    eachDistinct(values, (v, tiles) => {
      if (k < 0) table.ref(w, v);
      else w.varint(k++);
      writeTileSet(w, tiles, newestTile);
    });
  }
  for (const p of plan.recents) {
    const r = recentAt(state, p);
    w.varint(r === undefined ? 0 : r.length - 1);
    if (r === undefined) continue;
    for (let i = 0; i < r.length - 1; i++) {
      table.ref(w, valueAt(r, i));
      w.varint(newest - r[0][i]!);
    }
  }
  for (const p of plan.lifetimes) {
    const s = lifetimeAt(state, p);
    w.varint(s === undefined ? 0 : newest - s.lastTs + 1);
    if (s === undefined) continue;
    w.varint(s.count);
    w.scaled(s.sum[0]!, s.sum[1]!);
    w.num(s.min);
    w.num(s.max);
  }
  for (const p of plan.firsts) {
    const s = firstAt(state, p);
    w.varint(s === undefined ? 0 : newest - s.lastTs + 1);
    if (s === undefined) continue;
    w.varint(s.values.length);
    for (let i = 0; i < s.values.length; i++) {
      const v = s.values[i]!;
      if (typeof v === 'string') table.ref(w, v);
      else w.num(v as number);
      w.varint(newest - s.times[i]!);
    }
  }
  for (const p of plan.tops) {
    const s = topAt(state, p);
    w.varint(s === undefined ? 0 : newest - s.lastTs + 1);
    if (s === undefined) continue;
    w.varint(s.values.size);
    const newestTile = Math.floor(newest / p.tileMs);
    for (const [v, tc] of s.values) {
      table.ref(w, v);
      writeTiles(w, tc, newestTile, 2);
      for (let j = 1; j < tc.length; j += 2) w.varint(tc[j]!);
    }
  }
  for (const p of plan.quantiles) {
    const s = quantileAt(state, p);
    w.varint(s === undefined ? 0 : newest - s.lastTs + 1);
    if (s === undefined) continue;
    const tiles = [...s.tiles.keys()].sort((a, b) => a - b);
    writeTiles(w, tiles, Math.floor(newest / p.tileMs));
    for (const tile of tiles) {
      const buckets = s.tiles.get(tile)!;
      const keys = [...buckets.keys()].sort((a, b) => a - b);
      w.varint(keys.length);
      let prev = 0;
      for (const k of keys) {
        w.zigzag(k - prev);
        w.varint(buckets.get(k)!);
        prev = k;
      }
    }
  }
  writeApprox(w, plan.approx, state, newest);
  return w.finish();
}

function readSeries(r: ByteReader, state: EntityState, p: EntityPlan['series'][number], lastTs: number, newest: number): void {
  const idx = readTiles(r, Math.floor(newest / p.tileMs), 0);
  const s = openSeries(state, p, lastTs, idx.length * p.stride);
  let j = s[p.head + START]!;
  for (const i of idx) {
    const n = r.varint();
    r.check(n > 0, 'empty tile');
    s[j] = i;
    s[j + 1] = n;
    if (p.needSum) [s[j + 2], s[j + 3]] = r.scaled();
    if (p.minAt >= 0) s[j + p.minAt] = r.num();
    if (p.maxAt >= 0) s[j + p.maxAt] = r.num();
    if (p.momentsAt >= 0) {
      s[j + p.momentsAt] = r.num();
      const m2 = r.num();
      r.check(m2 >= 0, 'negative M2');
      s[j + p.momentsAt + 1] = m2;
    }
    j += p.stride;
  }
  s[p.head + END] = j;
}

function readDedup(r: ByteReader, state: EntityState, sources: number): void {
  // The fingerprint covers slots, not a source that feeds none.
  r.check(r.varint() === sources, 'state was written for another list of sources');
  for (let s = 0; s < sources; s++) {
    const n = r.count();
    if (n === 0) continue;
    const dedup = newDedup();
    state.slots[s] = dedup;
    const clock = r.zigzag();
    setClock(dedup, clock);
    for (let i = 0; i < n; i++) {
      const low = r.u32();
      const high = r.varint();
      r.check(high < HASH_HIGH_LIMIT, 'bad event id hash');
      r.check(restore(state.slots, s, high * TWO_32 + low, clock - r.varint()), 'repeated event id');
    }
  }
}

/** Version 1 kept ids with their event times; see the layout comment for the conversion. */
function readDedupV1(r: ByteReader, plan: EntityPlan, state: EntityState, str: () => string): void {
  const n = r.count();
  const clock = state.newest;
  r.check(n === 0 || clock !== NO_TIME, 'event ids without a newest time');
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const id = str();
    r.varint();
    r.check(!seen.has(id), 'repeated event id');
    seen.add(id);
    plan.sources.forEach((source, s) => {
      if (dedupAt(state, s) === UNUSED) state.slots[s] = newDedup();
      setClock(dedupAt(state, s), clock);
      restore(state.slots, s, eventKeyHash(source, id), clock);
    });
  }
}

/** Decodes state for one of `plans` (indexed by entity index); throws StateCorruptError on any mismatch. */
export function deserializeState(plans: readonly EntityPlan[], bytes: Uint8Array): EntityState {
  const r = new ByteReader(bytes);
  const version = r.u8();
  if (version !== STATE_VERSION && version !== PREVIOUS_VERSION) throw new StateCorruptError(`unsupported state version ${version}`);
  const plan = plans[r.varint()];
  if (plan === undefined) return r.fail('unknown entity');
  if (r.u32() !== plan.fingerprint) throw new StateCorruptError(`state was written for another ${plan.entity} feature layout`);
  const state = emptyState(plan);
  state.newest = readOptional(r) ?? NO_TIME;
  const newest = state.newest === NO_TIME ? 0 : state.newest;
  const strings: string[] = [];
  for (let n = r.count(); n > 0; n--) strings.push(intern(r.string()));
  const str = () => {
    const s = strings[r.varint()];
    return s ?? r.fail('bad string index');
  };
  const time = () => newest - r.varint();
  if (version === PREVIOUS_VERSION) readDedupV1(r, plan, state, str);
  else readDedup(r, state, plan.sources.length);
  for (const p of plan.series) {
    const present = r.varint();
    if (present > 0) readSeries(r, state, p, newest - present + 1, newest);
  }
  for (const p of plan.lasts) {
    const present = r.varint();
    if (present === 0) continue;
    const ts = newest - present + 1;
    let value: LastValue = 0;
    if (p.field !== undefined) {
      if (p.type === 'string') value = str();
      else if (p.type === 'vector') value = r.f32s(p.dim!);
      else value = r.num();
    }
    state.slots[p.slot] = { ts, value };
  }
  for (const p of plan.distincts) {
    const present = r.varint();
    if (present === 0) continue;
    const values = new Map<string, Tiles>();
    const newestTile = Math.floor(newest / p.tileMs);
    const n = r.count();
    for (let i = 0; i < n; i++) values.set(str(), readTileSet(r, newestTile));
    r.check(values.size === n, 'repeated distinct value');
    state.slots[p.slot] = { lastTs: newest - present + 1, values: compacted(values, SMALL_MAX), sweptTile: -Infinity };
  }
  for (const p of plan.recents) {
    const n = r.count();
    r.check(n <= p.k, 'too many last_k values');
    if (n === 0) continue;
    const values: string[] = [];
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      values.push(str());
      times.push(time());
    }
    r.check(new Set(values).size === n, 'repeated last_k value');
    state.slots[p.slot] = recentSlot(values, times);
  }
  for (const p of plan.lifetimes) {
    const present = r.varint();
    if (present === 0) continue;
    // An event count, not a list length: it may exceed the bytes left.
    const count = r.varint();
    r.check(count > 0, 'empty lifetime aggregate');
    const sum = r.scaled();
    state.slots[p.slot] = { lastTs: newest - present + 1, count, sum, min: r.num(), max: r.num() };
  }
  for (const p of plan.firsts) {
    const present = r.varint();
    if (present === 0) continue;
    const n = r.count();
    r.check(n > 0 && n <= Math.max(1, p.k), 'bad first_k size');
    const values: LastValue[] = [];
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      values.push(p.k > 0 || p.type === 'string' ? str() : r.num());
      times.push(time());
    }
    r.check(new Set(values).size === n, 'repeated first_k value');
    state.slots[p.slot] = { lastTs: newest - present + 1, values, times };
  }
  for (const p of plan.tops) {
    const present = r.varint();
    if (present === 0) continue;
    const values = new Map<string, number[]>();
    const newestTile = Math.floor(newest / p.tileMs);
    const n = r.count();
    for (let i = 0; i < n; i++) {
      const v = str();
      const tc: number[] = [];
      for (const tile of readTiles(r, newestTile, 1)) {
        const c = r.varint();
        r.check(c > 0, 'empty top_k tile');
        tc.push(tile, c);
      }
      values.set(v, tc);
    }
    r.check(values.size === n, 'repeated top_k value');
    state.slots[p.slot] = { lastTs: newest - present + 1, values, sweptTile: -Infinity };
  }
  for (const p of plan.quantiles) {
    const present = r.varint();
    if (present === 0) continue;
    const tiles = new Map<number, Map<number, number>>();
    for (const tile of readTiles(r, Math.floor(newest / p.tileMs), 0)) {
      const n = r.count();
      r.check(n > 0, 'empty quantile tile');
      const buckets = new Map<number, number>();
      let key = 0;
      for (let i = 0; i < n; i++) {
        const delta = r.zigzag();
        r.check(i === 0 || delta > 0, 'unordered quantile buckets');
        key += delta;
        const c = r.varint();
        r.check(c > 0, 'empty quantile bucket');
        buckets.set(key, c);
      }
      tiles.set(tile, buckets);
    }
    state.slots[p.slot] = { lastTs: newest - present + 1, tiles };
  }
  readApprox(r, plan.approx, state, newest);
  r.check(r.remaining === 0, 'trailing bytes');
  return state;
}
