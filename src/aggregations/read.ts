/**
 * Reading state at a time `now`: feature values, the next time they change on
 * their own, and eviction of what no later read can see.
 */
import type { FeatureValue } from '../schemas/registry.ts';
import { approxChange, approxValue, evictApprox } from './approx-distinct.ts';
import { prune } from './dedup.ts';
import { FLOAT, POW10 } from './numbers.ts';
import { quantileOf } from './quantile.ts';
import { sumRange } from './numbers.ts';
import type { EntityPlan, Output } from './plan.ts';
import { currentTile } from './tiles.ts';
import { END, LAST_TS, START, dropSeries, hasSeries, trimSeries, type SeriesBlock } from './series.ts';
import { distinctAt, firstAt, lastAt, lifetimeAt, quantileAt, recentAt, seriesAt, topAt, type EntityState } from './state.ts';
import { evictRecent, order, recentOrder, valueAt } from './recent.ts';
import { firstList, sweepTop } from './update.ts';
import { distinctCount, distinctEdge, distinctSize, sweepDistinct } from './distinct.ts';

/** Element offset just past the tiles in [.., hi] of the series whose header is at `h`. */
function tilesEnd(s: SeriesBlock, h: number, stride: number, hi: number): number {
  const start = s[h + START]!;
  let b = s[h + END]!;
  while (b > start && s[b - stride]! > hi) b -= stride;
  return b;
}

/** Element offset of the first tile in [lo, ..] before `b`. */
function tilesFrom(s: SeriesBlock, h: number, stride: number, lo: number, b: number): number {
  const start = s[h + START]!;
  let a = b;
  while (a > start && s[a - stride]! >= lo) a -= stride;
  return a;
}

function seriesValue(o: Extract<Output, { kind: 'series' }>, tiles: SeriesBlock, now: number): FeatureValue {
  const cur = currentTile(now, o.slot.tileMs);
  const stride = o.slot.stride;
  const b = tilesEnd(tiles, o.slot.head, stride, cur);
  const a = tilesFrom(tiles, o.slot.head, stride, cur - o.tiles + 1, b);
  const op = o.feature.op;
  if (op === 'sum') return a === b ? 0 : sumRange(tiles, stride, a + 2, b + 2);
  let count = 0;
  for (let j = a; j < b; j += stride) count += tiles[j + 1]!;
  if (op === 'count') return count;
  if (count === 0) return o.feature.default;
  if (op === 'avg') return sumRange(tiles, stride, a + 2, b + 2) / count;
  if (op === 'stddev' || op === 'variance') {
    const variance = mergedVariance(tiles, stride, a, b, o.slot.momentsAt);
    return op === 'variance' ? variance : Math.sqrt(variance);
  }
  const at = op === 'min' ? o.slot.minAt : o.slot.maxAt;
  let best = op === 'min' ? Infinity : -Infinity;
  for (let j = a; j < b; j += stride) best = op === 'min' ? Math.min(best, tiles[j + at]!) : Math.max(best, tiles[j + at]!);
  return best;
}

/** Population variance of the tiles at [a, b), merging their Welford moments (Chan et al.). */
function mergedVariance(tiles: readonly number[], stride: number, a: number, b: number, at: number): number {
  let n = 0;
  let mean = 0;
  let m2 = 0;
  for (let j = a; j < b; j += stride) {
    const nb = tiles[j + 1]!;
    const delta = tiles[j + at]! - mean;
    const total = n + nb;
    mean += (delta * nb) / total;
    m2 += tiles[j + at + 1]! + (delta * delta * n * nb) / total;
    n = total;
  }
  return Math.max(0, m2 / n) + 0;
}

/** A feature's value at `now`, or undefined when it has lapsed (no event for its TTL). */
export function outputValue(o: Output, state: EntityState, now: number): FeatureValue | undefined {
  const ttl = o.feature.ttlMs;
  switch (o.kind) {
    case 'series': {
      // An absent series' NO_TIME reads as lapsed.
      const s = seriesAt(state, o.slot);
      return s === undefined || s[o.slot.head + LAST_TS]! + ttl <= now ? undefined : seriesValue(o, s, now);
    }
    case 'distinct': {
      const d = distinctAt(state, o.slot);
      if (d === undefined || d.lastTs + ttl <= now) return undefined;
      const cur = currentTile(now, o.slot.tileMs);
      return distinctCount(d.values, cur - o.tiles + 1, cur);
    }
    case 'recent': {
      const r = recentAt(state, o.slot);
      if (r === undefined) return undefined;
      const n = recentOrder(r, ttl, o.k, now);
      if (n === 0) return undefined;
      const list: string[] = [];
      for (let j = 0; j < n; j++) list.push(valueAt(r, order[j]!));
      return list;
    }
    case 'last': {
      const l = lastAt(state, o.slot);
      if (l === undefined || l.ts + ttl <= now) return undefined;
      return o.slot.field === undefined ? Math.floor(l.ts / 1000) : l.value;
    }
    case 'quantile': {
      const s = quantileAt(state, o.slot);
      if (s === undefined || s.lastTs + ttl <= now) return undefined;
      const cur = currentTile(now, o.slot.tileMs);
      const lo = cur - o.tiles + 1;
      const merged = new Map<number, number>();
      s.tiles.forEach((buckets, tile) => {
        if (tile < lo || tile > cur) return;
        buckets.forEach((n, key) => merged.set(key, (merged.get(key) ?? 0) + n));
      });
      return quantileOf(merged, o.q) ?? o.feature.default;
    }
    case 'top': {
      const s = topAt(state, o.slot);
      if (s === undefined || s.lastTs + ttl <= now) return undefined;
      const cur = currentTile(now, o.slot.tileMs);
      const lo = cur - o.tiles + 1;
      const counted: [string, number][] = [];
      s.values.forEach((tc, value) => {
        let n = 0;
        for (let j = 0; j < tc.length; j += 2) if (tc[j]! >= lo && tc[j]! <= cur) n += tc[j + 1]!;
        if (n > 0) counted.push([value, n]);
      });
      // Most frequent first; ties to the value that sorts first.
      counted.sort(([v1, n1], [v2, n2]) => n2 - n1 || (v1 < v2 ? -1 : v1 > v2 ? 1 : 0));
      return counted.slice(0, o.k).map(([v]) => v);
    }
    case 'lifetime': {
      const s = lifetimeAt(state, o.slot);
      if (s === undefined || s.lastTs + ttl <= now) return undefined;
      const op = o.feature.op;
      if (op === 'count') return s.count;
      if (op === 'sum') return (s.sum[1] === FLOAT ? s.sum[0]! : s.sum[0]! / POW10[s.sum[1]!]!) + 0;
      return op === 'min' ? s.min : s.max;
    }
    case 'approx':
      return approxValue(o, state, now);
    case 'first': {
      const s = firstAt(state, o.slot);
      if (s === undefined || s.lastTs + ttl <= now) return undefined;
      return o.slot.k === 0 ? s.values[0]! : (firstList(s.values, s.times) as string[]);
    }
  }
}

/** `t` if it is after `now` and before `next`, else `next`. */
function sooner(next: number, t: number, now: number): number {
  return t > now && t < next ? t : next;
}

/** Earliest time after `now` at which outputValue(o) may differ, or Infinity. */
export function outputChange(o: Output, state: EntityState, now: number): number {
  const ttl = o.feature.ttlMs;
  let next = Infinity;
  switch (o.kind) {
    case 'series': {
      const s = seriesAt(state, o.slot);
      if (!hasSeries(s, o.slot)) break;
      const h = o.slot.head;
      next = sooner(next, s[h + LAST_TS]! + ttl, now);
      const T = o.slot.tileMs;
      const cur = currentTile(now, T);
      for (let j = s[h + START]!, end = s[h + END]!; j < end; j += o.slot.stride) {
        const i = s[j]!;
        next = sooner(next, (i > cur ? i : i + o.tiles) * T + 1, now);
      }
      break;
    }
    case 'distinct': {
      const d = distinctAt(state, o.slot);
      if (d === undefined) break;
      next = sooner(next, d.lastTs + ttl, now);
      const T = o.slot.tileMs;
      const cur = currentTile(now, T);
      next = distinctEdge(d.values, T, o.tiles, cur, now, next);
      break;
    }
    case 'recent': {
      const r = recentAt(state, o.slot);
      // The list changes when one of its members expires; older values are already out of it.
      if (r !== undefined) for (let j = 0, n = recentOrder(r, ttl, o.k, now); j < n; j++) next = sooner(next, r[0][order[j]!]! + ttl, now);
      break;
    }
    case 'last': {
      const l = lastAt(state, o.slot);
      if (l !== undefined) next = sooner(next, l.ts + ttl, now);
      break;
    }
    case 'quantile': {
      const s = quantileAt(state, o.slot);
      if (s === undefined) break;
      next = sooner(next, s.lastTs + ttl, now);
      const T = o.slot.tileMs;
      const cur = currentTile(now, T);
      for (const i of s.tiles.keys()) next = sooner(next, (i > cur ? i : i + o.tiles) * T + 1, now);
      break;
    }
    case 'top': {
      const s = topAt(state, o.slot);
      if (s === undefined) break;
      next = sooner(next, s.lastTs + ttl, now);
      const T = o.slot.tileMs;
      const cur = currentTile(now, T);
      for (const tc of s.values.values()) for (let j = 0; j < tc.length; j += 2) next = sooner(next, (tc[j]! > cur ? tc[j]! : tc[j]! + o.tiles) * T + 1, now);
      break;
    }
    case 'approx':
      next = sooner(next, approxChange(o, state, now), now);
      break;
    case 'lifetime':
    case 'first': {
      const s = o.kind === 'lifetime' ? lifetimeAt(state, o.slot) : firstAt(state, o.slot);
      if (s !== undefined) next = sooner(next, s.lastTs + ttl, now);
      break;
    }
  }
  return next;
}

/** Drops tiles, values and slots that no read at `now` or later can see. */
export function evictState(plan: EntityPlan, state: EntityState, now: number, dedupHorizonMs: number): void {
  for (const p of plan.series) {
    if (!hasSeries(seriesAt(state, p), p)) continue;
    trimSeries(state, p, currentTile(now, p.tileMs) - p.spanTiles + 1);
    const s = seriesAt(state, p)!;
    const h = p.head;
    if (s[h + START] === s[h + END] && s[h + LAST_TS]! + p.maxTtlMs <= now) dropSeries(state, p);
  }
  for (const p of plan.distincts) {
    const d = distinctAt(state, p);
    const cur = currentTile(now, p.tileMs);
    if (d === undefined) continue;
    // Swept at this tile already: since then apply has pruned each value it touched.
    if (cur > d.sweptTile) sweepDistinct(d, cur - p.spanTiles + 1, cur);
    if (distinctSize(d.values) === 0 && d.lastTs + p.maxTtlMs <= now) state.slots[p.slot] = undefined;
  }
  evictRecent(plan.recents, state, now);
  for (const p of plan.lasts) {
    const l = lastAt(state, p);
    if (l !== undefined && l.ts + p.maxTtlMs <= now) state.slots[p.slot] = undefined;
  }
  for (const p of plan.quantiles) {
    const s = quantileAt(state, p);
    if (s === undefined) continue;
    const lo = currentTile(now, p.tileMs) - p.spanTiles + 1;
    for (const tile of s.tiles.keys()) if (tile < lo) s.tiles.delete(tile);
    if (s.tiles.size === 0 && s.lastTs + p.maxTtlMs <= now) state.slots[p.slot] = undefined;
  }
  for (const p of plan.tops) {
    const s = topAt(state, p);
    if (s === undefined) continue;
    const cur = currentTile(now, p.tileMs);
    if (cur > s.sweptTile) sweepTop(s, cur - p.spanTiles + 1, cur);
    if (s.values.size === 0 && s.lastTs + p.maxTtlMs <= now) state.slots[p.slot] = undefined;
  }
  for (const p of plan.lifetimes) {
    const s = lifetimeAt(state, p);
    if (s !== undefined && s.lastTs + p.ttlMs <= now) state.slots[p.slot] = undefined;
  }
  for (const p of plan.firsts) {
    const s = firstAt(state, p);
    if (s !== undefined && s.lastTs + p.ttlMs <= now) state.slots[p.slot] = undefined;
  }
  evictApprox(plan.approx, state, now);
  // Ids are forgotten by the arrival clock only, never by `now`: a replay decides as the first run did.
  for (let s = 0; s < plan.sources.length; s++) prune(state.slots, s, dedupHorizonMs);
}
