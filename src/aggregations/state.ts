/** In-memory state of one entity; slots are created on their first event. */
import { UNUSED, type DedupMemory } from './dedup.ts';
import type { ReadMemo } from './memo.ts';
import { NO_TIME } from './numbers.ts';
import type { SeriesBlock } from './series.ts';
import type { Tiles } from './tile-set.ts';

export type LastValue = number | string | Float32Array;

export interface LastState {
  ts: number;
  /** 0 for last_time, which reads `ts`. */
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
 * last_k (recent.ts): the entries' newest event times, then their values,
 * [times, value, value, ...], each array exactly as long as the entries.
 */
export type RecentState = [times: number[], ...values: string[]];

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

/** What one slot holds, by the kind of its plan (the accessors below). */
export type Slot = DedupMemory | SeriesBlock | LastState | DistinctState | RecentState | LifetimeState | FirstState | TopState | QuantileState | ApproxState | undefined;

export interface EntityState {
  readonly entity: string;
  /** Position of the entity in the registry: finds the plan without a lookup by name. */
  readonly entityIndex: number;
  /** Newest event time applied (duplicates excluded); NO_TIME: none. */
  newest: number;
  /**
   * Every slot of every kind in one array, at its plan's `slot` (plan.ts):
   * one object per state to reach them all (memory per state, and one
   * fewer place to fetch per slot kind an event updates). First, per
   * source of the entity (plan order), the hashes of its counted event ids
   * by arrival time, for de-duplication (dedup.ts; UNUSED until the
   * source's first event); then the feature slots, undefined until their
   * first event: first one block per source with tile series, holding all
   * of them (series.ts), then one slot per plan of every other kind.
   */
  slots: Slot[];
  /** Remembered reads (memo.ts); never serialized. */
  memo: ReadMemo | undefined;
}

/** A slot plan: where its state sits. */
interface At {
  slot: number;
}

/** The de-duplication memory of the entity's source at `index` (SourcePlan.index). */
export const dedupAt = (s: EntityState, index: number) => s.slots[index] as DedupMemory;
/** The block of the series' source (series.ts): shared by all its series. */
export const seriesAt = (s: EntityState, p: At) => s.slots[p.slot] as SeriesBlock | undefined;
export const lastAt = (s: EntityState, p: At) => s.slots[p.slot] as LastState | undefined;
export const distinctAt = (s: EntityState, p: At) => s.slots[p.slot] as DistinctState | undefined;
export const recentAt = (s: EntityState, p: At) => s.slots[p.slot] as RecentState | undefined;
export const lifetimeAt = (s: EntityState, p: At) => s.slots[p.slot] as LifetimeState | undefined;
export const firstAt = (s: EntityState, p: At) => s.slots[p.slot] as FirstState | undefined;
export const topAt = (s: EntityState, p: At) => s.slots[p.slot] as TopState | undefined;
export const quantileAt = (s: EntityState, p: At) => s.slots[p.slot] as QuantileState | undefined;
export const approxAt = (s: EntityState, p: At) => s.slots[p.slot] as ApproxState | undefined;

export interface StateShape {
  entity: string;
  entityIndex: number;
  sources: readonly unknown[];
  slotCount: number;
}

/** An empty state with one undefined slot per slot of the plan. */
export function emptyState(shape: StateShape): EntityState {
  return {
    entity: shape.entity,
    entityIndex: shape.entityIndex,
    newest: NO_TIME,
    slots: new Array<Slot>(shape.slotCount).fill(undefined).fill(UNUSED, 0, shape.sources.length),
    memo: undefined,
  };
}
