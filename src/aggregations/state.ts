/** In-memory state of one entity; slots are created on their first event. */

/** Sparse tiles of one series, as parallel arrays sorted by tile index. */
export interface SeriesState {
  /** Newest event time the series took, for freshness. */
  lastTs: number;
  idx: number[];
  count: number[];
  sum: number[] | undefined;
  /** Per tile: decimals of `sum` (see numbers.ts), or FLOAT. */
  scale: number[] | undefined;
  min: number[] | undefined;
  max: number[] | undefined;
}

export type LastValue = number | string | Float32Array;

export interface LastState {
  ts: number;
  value: LastValue;
}

export interface DistinctState {
  lastTs: number;
  /**
   * Value -> the tiles it occurs in, ascending; only the newest tile at or
   * before the current tile is kept, plus any tiles ahead of it (events
   * within the allowed clock skew).
   */
  values: Map<string, number[]>;
  /** Current tile when values were last swept; not persisted. */
  sweptTile: number;
}

/** last_k entries as parallel arrays (k is small): a value and its newest event time. */
export interface RecentState {
  values: string[];
  times: number[];
}

export interface EntityState {
  readonly entity: string;
  /** Position of the entity in the registry: finds the plan without a lookup by name. */
  readonly entityIndex: number;
  /** Newest event time applied (duplicates excluded). */
  newest: number | undefined;
  series: (SeriesState | undefined)[];
  lasts: (LastState | undefined)[];
  distincts: (DistinctState | undefined)[];
  recents: (RecentState | undefined)[];
  /** Event id -> event time, for de-duplication. */
  dedup: Map<string, number>;
  /** Dedup size that triggers the next prune; not persisted. */
  dedupPruneAt: number;
}

export const DEDUP_PRUNE_MIN = 32;

export interface StateShape {
  entity: string;
  entityIndex: number;
  series: readonly unknown[];
  lasts: readonly unknown[];
  distincts: readonly unknown[];
  recents: readonly unknown[];
}

/** An empty state with one undefined slot per slot of the plan. */
export function emptyState(slots: StateShape): EntityState {
  return {
    entity: slots.entity,
    entityIndex: slots.entityIndex,
    newest: undefined,
    series: slots.series.map(() => undefined),
    lasts: slots.lasts.map(() => undefined),
    distincts: slots.distincts.map(() => undefined),
    recents: slots.recents.map(() => undefined),
    dedup: new Map(),
    dedupPruneAt: DEDUP_PRUNE_MIN,
  };
}
