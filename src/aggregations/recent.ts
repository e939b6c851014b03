/**
 * last_k: the k distinct values with the newest event times. A slot is one
 * array, [times, value, value, ...] (state.ts RecentState): entry i is the
 * value at 1 + i and its newest event time at times[i]. Both arrays hold
 * exactly the entries: a new value replaces them with copies one longer
 * (at most k, at most 100, and a full slot scans its k entries anyway), so
 * a growing slot holds no spare room, and no object besides its two arrays.
 */
import type { RecentPlan } from './plan.ts';
import { recentAt, type EntityState, type RecentState } from './state.ts';
import { keyValue } from './update.ts';

/** Recency order: newer first; at equal times the larger value first. */
export function newer(t1: number, v1: string, t2: number, v2: string): boolean {
  return t1 > t2 || (t1 === t2 && v1 > v2);
}

/** The value of entry i (the tuple type cannot tell a computed index from 0). */
export function valueAt(r: RecentState, i: number): string {
  return r[1 + i] as string;
}

/** A slot of the given values and times (parallel, non-empty). */
export function recentSlot(values: string[], times: number[]): RecentState {
  const r: RecentState = [times];
  for (const v of values) r.push(v);
  return r;
}

export function addRecent(state: EntityState, p: RecentPlan, fields: Record<string, unknown>, t: number, now: number): boolean {
  const value = keyValue(fields[p.field]);
  if (value === undefined || t + p.maxTtlMs <= now) return false;
  const r = recentAt(state, p);
  if (r === undefined) {
    state.slots[p.slot] = [[t], value];
    return true;
  }
  const times = r[0];
  const n = times.length;
  // Values are interned (intern.ts): a held value is usually the very same string.
  for (let i = 0; i < n; i++) {
    if (r[1 + i] === value) {
      if (t > times[i]!) times[i] = t;
      return true;
    }
  }
  if (n < p.k) {
    const grown = r.concat(value) as RecentState;
    grown[0] = times.concat(t);
    state.slots[p.slot] = grown;
    return true;
  }
  // Full: the new value replaces the oldest entry if it is newer.
  let oldest = 0;
  for (let i = 1; i < n; i++) if (newer(times[oldest]!, valueAt(r, oldest), times[i]!, valueAt(r, i))) oldest = i;
  if (newer(t, value, times[oldest]!, valueAt(r, oldest))) {
    r[1 + oldest] = value;
    times[oldest] = t;
  }
  return true;
}

/** recentOrder's answer, reused by every call (reads never nest): entry positions of one slot. */
export const order: number[] = [];

/** Puts the positions of last_k's entries at `now` in `order`, newest first (an insertion sort: k is small); returns how many (at most k). */
export function recentOrder(r: RecentState, ttlMs: number, k: number, now: number): number {
  const times = r[0];
  let n = 0;
  for (let i = 0; i < times.length; i++) {
    const t = times[i]!;
    if (t + ttlMs <= now) continue;
    let j = n++;
    for (; j > 0 && newer(t, valueAt(r, i), times[order[j - 1]!]!, valueAt(r, order[j - 1]!)); j--) order[j] = order[j - 1]!;
    order[j] = i;
  }
  return Math.min(n, k);
}

/** Drops the entries no read at `now` or later sees; a slot left empty goes. */
export function evictRecent(plans: readonly RecentPlan[], state: EntityState, now: number): void {
  for (const p of plans) {
    const r = recentAt(state, p);
    if (r === undefined) continue;
    const times = r[0];
    const n = times.length;
    let w = 0;
    for (let i = 0; i < n; i++) {
      if (times[i]! + p.maxTtlMs <= now) continue;
      r[1 + w] = r[1 + i]!;
      times[w] = times[i]!;
      w++;
    }
    if (w === 0) state.slots[p.slot] = undefined;
    else if (w < n) {
      times.length = w;
      r.length = 1 + w;
    }
  }
}
