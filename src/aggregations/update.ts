/**
 * Applying one event to each slot kind. Each returns whether the slot took
 * the event; a slot skips events too old to change anything it can still
 * output at `now` or later, and values that are missing or not finite.
 */
import { intern } from './intern.ts';
import { addToSum, decimals } from './numbers.ts';
import { bucketOf } from './quantile.ts';
import type { FirstPlan, LastPlan, LifetimePlan, QuantilePlan, TopPlan } from './plan.ts';
import { currentTile } from './tiles.ts';
import { firstAt, lastAt, lifetimeAt, quantileAt, topAt, type EntityState, type LastValue, type TopState } from './state.ts';

export function finite(raw: unknown): number | undefined {
  if (typeof raw !== 'number' || !Number.isFinite(raw)) return undefined;
  // -0 becomes 0, so equal sums and maxima also look equal; any other number is returned as it came (`raw + 0` made a new heap number).
  return raw === 0 ? 0 : raw;
}

let lastRaw: unknown;
let lastKey: string | undefined;

/** Values distinct_count and last_k track: non-empty strings without \x1f (the list separator), or numbers. */
export function keyValue(raw: unknown): string | undefined {
  // Several slots of one event read the same field: the last answer is kept.
  if (raw === lastRaw) return lastKey;
  let key: string | undefined;
  if (typeof raw === 'string') key = raw === '' || raw.includes('\x1f') ? undefined : intern(raw);
  else key = typeof raw === 'number' && Number.isFinite(raw) ? intern(String(raw)) : undefined;
  lastRaw = raw;
  lastKey = key;
  return key;
}

/** Removes the first n items without allocating (splice would return them). */
function dropFront(a: number[], n: number): void {
  a.copyWithin(0, n);
  a.length -= n;
}

function lastValue(p: Pick<LastPlan, 'type' | 'dim'>, raw: unknown): LastValue | undefined {
  switch (p.type) {
    case 'int':
      if (typeof raw === 'boolean') return raw ? 1 : 0;
      return Number.isSafeInteger(raw) ? (raw as number) + 0 : undefined;
    case 'float':
      return finite(raw);
    case 'string':
      return typeof raw === 'string' ? intern(raw) : undefined;
    default: {
      if (!(Array.isArray(raw) || raw instanceof Float32Array) || raw.length !== p.dim) return undefined;
      const vec = Float32Array.from(raw as ArrayLike<number>);
      for (let i = 0; i < vec.length; i++) if (!Number.isFinite(vec[i])) return undefined;
      return vec;
    }
  }
}

/** Total order on one slot's values, for ties in event time: the larger value wins. */
export function compareLast(a: LastValue, b: LastValue): number {
  if (typeof a === 'number') return a - (b as number);
  if (typeof a === 'string') return a < (b as string) ? -1 : a > (b as string) ? 1 : 0;
  const bv = b as Float32Array;
  for (let i = 0; i < a.length && i < bv.length; i++) if (a[i] !== bv[i]) return a[i]! - bv[i]!;
  return a.length - bv.length;
}

export function addLast(state: EntityState, p: LastPlan, fields: Record<string, unknown>, t: number, now: number): boolean {
  if (t + p.maxTtlMs <= now) return false;
  // last_time reads the slot's time: its value is a constant small integer, not a heap number per event.
  const value = p.field === undefined ? 0 : lastValue(p, fields[p.field]);
  if (value === undefined) return false;
  const cur = lastAt(state, p);
  if (cur === undefined) state.slots[p.slot] = { ts: t, value };
  else if (t > cur.ts || (t === cur.ts && compareLast(value, cur.value) > 0)) {
    cur.ts = t;
    cur.value = value;
  }
  return true;
}


/**
 * Lifetime slots hold everything since they were last fresh. A slot that has
 * lapsed (no event for its TTL) starts afresh with the next event that is
 * itself fresh; an event older than the TTL only joins a live slot. Judged
 * at apply time, so eviction timing never changes a value.
 */
export function live(s: { lastTs: number } | undefined, ttlMs: number, t: number, now: number): 'live' | 'restart' | 'skip' {
  if (s !== undefined && s.lastTs + ttlMs > now) return 'live';
  return t + ttlMs <= now ? 'skip' : 'restart';
}

export function addLifetime(state: EntityState, p: LifetimePlan, fields: Record<string, unknown>, t: number, now: number): boolean {
  let v = 0;
  if (p.field !== undefined) {
    const x = finite(fields[p.field]);
    if (x === undefined) return false;
    v = x;
  }
  let s = lifetimeAt(state, p);
  const how = live(s, p.ttlMs, t, now);
  if (how === 'skip') return false;
  if (how === 'restart' || s === undefined) s = state.slots[p.slot] = { lastTs: t, count: 0, sum: [0, 0], min: Infinity, max: -Infinity };
  else if (t > s.lastTs) s.lastTs = t;
  s.count++;
  addToSum(s.sum, 0, v, decimals(v));
  if (v < s.min) s.min = v;
  if (v > s.max) s.max = v;
  return true;
}

/** Earliness order: earlier first; at equal times the smaller value first. */
function earlier(t1: number, v1: LastValue, t2: number, v2: LastValue): boolean {
  return t1 < t2 || (t1 === t2 && compareLast(v1, v2) < 0);
}

export function addFirst(state: EntityState, p: FirstPlan, fields: Record<string, unknown>, t: number, now: number): boolean {
  const value = p.k === 0 ? lastValue(p, fields[p.field]) : keyValue(fields[p.field]);
  if (value === undefined) return false;
  let s = firstAt(state, p);
  const how = live(s, p.ttlMs, t, now);
  if (how === 'skip') return false;
  if (how === 'restart' || s === undefined) s = state.slots[p.slot] = { lastTs: t, values: [], times: [] };
  else if (t > s.lastTs) s.lastTs = t;
  const { values, times } = s;
  const at = p.k === 0 ? (values.length > 0 ? 0 : -1) : values.indexOf(value);
  if (p.k > 0 && at >= 0) {
    if (t < times[at]!) times[at] = t;
    return true;
  }
  if (values.length < Math.max(1, p.k)) {
    values.push(value);
    times.push(t);
    return true;
  }
  // Full: the new value replaces the latest entry if it is earlier.
  let latest = 0;
  for (let i = 1; i < values.length; i++) if (earlier(times[latest]!, values[latest]!, times[i]!, values[i]!)) latest = i;
  if (earlier(t, value, times[latest]!, values[latest]!)) {
    values[latest] = value;
    times[latest] = t;
  }
  return true;
}

/** first_k's list: earliest first. */
export function firstList(values: readonly LastValue[], times: readonly number[]): LastValue[] {
  return values
    .map((v, i) => [v, times[i]!] as const)
    .sort(([v1, t1], [v2, t2]) => (earlier(t1, v1, t2, v2) ? -1 : 1))
    .map(([v]) => v);
}

/** Drops tiles before `lo` from every value of a top_k slot, and values left without tiles. */
export function sweepTop(s: TopState, lo: number, cur: number): void {
  s.values.forEach((tc, value) => {
    let j = 0;
    while (j < tc.length && tc[j]! < lo) j += 2;
    if (j > 0) dropFront(tc, j);
    if (tc.length === 0) s.values.delete(value);
  });
  s.sweptTile = cur;
}

export function addTop(state: EntityState, p: TopPlan, fields: Record<string, unknown>, t: number, now: number): boolean {
  const value = keyValue(fields[p.field]);
  if (value === undefined) return false;
  const tile = Math.floor(t / p.tileMs);
  const cur = currentTile(now, p.tileMs);
  const lo = cur - p.spanTiles + 1;
  if (tile < lo && t + p.maxTtlMs <= now) return false;
  let s = topAt(state, p);
  if (s === undefined) s = state.slots[p.slot] = { lastTs: t, values: new Map(), sweptTile: cur };
  else if (t > s.lastTs) s.lastTs = t;
  if (tile < lo) return true;
  if (cur > s.sweptTile) sweepTop(s, lo, cur);
  let tc = s.values.get(value);
  if (tc === undefined) s.values.set(value, (tc = []));
  let j = tc.length - 2;
  while (j >= 0 && tc[j]! > tile) j -= 2;
  if (j >= 0 && tc[j] === tile) tc[j + 1]!++;
  else tc.splice(j + 2, 0, tile, 1);
  return true;
}

export function addQuantile(state: EntityState, p: QuantilePlan, fields: Record<string, unknown>, t: number, now: number): boolean {
  const v = finite(fields[p.field]);
  if (v === undefined) return false;
  const tile = Math.floor(t / p.tileMs);
  const lo = currentTile(now, p.tileMs) - p.spanTiles + 1;
  if (tile < lo && t + p.maxTtlMs <= now) return false;
  let s = quantileAt(state, p);
  if (s === undefined) s = state.slots[p.slot] = { lastTs: t, tiles: new Map() };
  else if (t > s.lastTs) s.lastTs = t;
  if (tile < lo) return true;
  let buckets = s.tiles.get(tile);
  if (buckets === undefined) {
    for (const old of s.tiles.keys()) if (old < lo) s.tiles.delete(old);
    s.tiles.set(tile, (buckets = new Map()));
  }
  const key = bucketOf(v);
  buckets.set(key, (buckets.get(key) ?? 0) + 1);
  return true;
}
