/** In-memory state of one entity; slots are created on their first event. */
import { DedupMemory } from './dedup.ts';
import type { ReadMemo } from './memo.ts';
import { NO_TIME } from './numbers.ts';
import type { SeriesState } from './series.ts';
import type { Tiles } from './tile-set.ts';

export type LastValue = number | string | Float32Array;

export interface LastState {
  ts: number;
  value: LastValue;
}

/** distinct_count values (distinct.ts): [value, tiles, ...] while few, else a Map. */
export type DistinctValues = (string | Tiles)[] | Map<string, Tiles>;

export interface DistinctState {
  lastTs: number;
  /**
   * Value -> the tiles it occurs in (tile-set.ts): the newest tile at or
   * before the current tile, plus any tiles ahead of it (events within the
   * allowed clock skew).
   */
  values: DistinctValues;
  /** Current tile when values were last swept; not persisted. */
  sweptTile: number;
}

/**
 * last_k entries as parallel arrays (k is small): a value and its newest
 * event time. The first `n` entries are held; the arrays' length is their
 * capacity, doubled up to k as values arrive (filled with '' and 0), so a
 * new value rarely allocates and a quiet entity holds a short array.
 */
export interface RecentState {
  n: number;
  values: string[];
  times: number[];
}

/** A lifetime count/sum/min/max: everything since the slot was last fresh. */
export interface LifetimeState {
  /** Newest event time taken, for freshness. */
  lastTs: number;
  count: number;
  /** Sum as [units, scale] (see numbers.ts). */
  sum: number[];
  min: number;
  max: number;
}

/** first / first_k: values with their earliest event times (at most k; one for first), plus the newest time taken. */
export interface FirstState {
  lastTs: number;
  values: LastValue[];
  times: number[];
}

/** top_k: value -> [tile, count, tile, count, ...], tiles ascending, none before the window's first tile once swept. */
export interface TopState {
  lastTs: number;
  values: Map<string, number[]>;
  /** Current tile when values were last swept; not persisted. */
  sweptTile: number;
}

/** approx_quantile: tile -> (bucket key -> count); tiles before the window's first are swept. */
export interface QuantileState {
  lastTs: number;
  tiles: Map<number, Map<number, number>>;
}

/**
 * approx_distinct (see approx-distinct.ts): exactly the value hashes and
 * their tiles (as DistinctState) while few, else HyperLogLog registers per
 * tile. Lifetime slots use the one tile 0.
 */
export interface ApproxState {
  lastTs: number;
  /** Exact mode: value hash -> tiles, as DistinctState.values; undefined in register mode. */
  exact: Map<number, Tiles> | undefined;
  /** Register mode: tile -> registers (hll.ts); undefined in exact mode. */
  registers: Map<number, Uint8Array> | undefined;
  /** Current tile when last swept; not persisted. */
  sweptTile: number;
}

export interface EntityState {
  readonly entity: string;
  /** Position of the entity in the registry: finds the plan without a lookup by name. */
  readonly entityIndex: number;
  /** Newest event time applied (duplicates excluded); NO_TIME: none. */
  newest: number;
  series: (SeriesState | undefined)[];
  lasts: (LastState | undefined)[];
  distincts: (DistinctState | undefined)[];
  recents: (RecentState | undefined)[];
  lifetimes: (LifetimeState | undefined)[];
  firsts: (FirstState | undefined)[];
  tops: (TopState | undefined)[];
  quantiles: (QuantileState | undefined)[];
  approx: (ApproxState | undefined)[];
  /** Per source of the entity (plan order): hashes of counted event ids by arrival time, for de-duplication; DedupMemory.UNUSED until the source's first event. */
  dedup: DedupMemory[];
  /** Remembered reads (memo.ts); never serialized. */
  memo: ReadMemo | undefined;
}

export interface StateShape {
  entity: string;
  entityIndex: number;
  sources: readonly unknown[];
  series: readonly unknown[];
  lasts: readonly unknown[];
  distincts: readonly unknown[];
  recents: readonly unknown[];
  lifetimes: readonly unknown[];
  firsts: readonly unknown[];
  tops: readonly unknown[];
  quantiles: readonly unknown[];
  approx: readonly unknown[];
}

/** Shared by every state for the slot kinds a plan has none of (memory per state); frozen, as nothing may ever add to it. */
const NONE: never[] = Object.freeze([]) as never[];

function slotsOf(plans: readonly unknown[]): undefined[] {
  return plans.length === 0 ? NONE : plans.map(() => undefined);
}

/** An empty state with one undefined slot per slot of the plan. */
export function emptyState(slots: StateShape): EntityState {
  return {
    entity: slots.entity,
    entityIndex: slots.entityIndex,
    newest: NO_TIME,
    series: slotsOf(slots.series),
    lasts: slotsOf(slots.lasts),
    distincts: slotsOf(slots.distincts),
    recents: slotsOf(slots.recents),
    lifetimes: slotsOf(slots.lifetimes),
    firsts: slotsOf(slots.firsts),
    tops: slotsOf(slots.tops),
    quantiles: slotsOf(slots.quantiles),
    approx: slotsOf(slots.approx),
    dedup: slots.sources.map(() => DedupMemory.UNUSED),
    memo: undefined,
  };
}
