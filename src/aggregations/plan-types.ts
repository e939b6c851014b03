/**
 * The slot plans compileEntity (plan.ts) builds: what each slot of an entity's
 * state holds and where (EntityState.slots), read by the update, read and
 * serialize modules.
 */
import type { SourceSeed } from './dedup.ts';
import type { EventFields, ResolvedFeature } from '../schemas/registry.ts';

/** A feature filter (see schemas/registry-filter.ts); undefined: every event. */
export type SlotFilter = ((fields: EventFields) => boolean) | undefined;

export interface SeriesPlan {
  index: number;
  /** Position in EntityState.slots of its source's series block (series.ts), shared by all its series (set once the plan is compiled). */
  slot: number;
  /** Offset of the series' header in the block: HEADER times its position among its source's series. */
  head: number;
  /** Where the block's first region starts: HEADER times the number of its source's series. */
  blockHead: number;
  /** Undefined: counts every event of the source. */
  field: string | undefined;
  tileMs: number;
  /** Tiles of the longest member window. */
  spanTiles: number;
  maxTtlMs: number;
  needSum: boolean;
  needMin: boolean;
  needMax: boolean;
  /** stddev/variance: a Welford mean and M2 per tile. */
  needMoments: boolean;
  filter: SlotFilter;
  /**
   * Layout of a tile in the series' region: numbers per tile, and offsets of
   * min, max and the moments' mean (M2 follows it) (-1: not kept); sum units
   * and scale sit at 2 and 3.
   */
  stride: number;
  minAt: number;
  maxAt: number;
  momentsAt: number;
  /** A new tile's numbers (index 0 to be set). */
  blank: number[];
}

export interface LastPlan {
  index: number;
  /** Position in EntityState.slots (set once the plan is compiled). */
  slot: number;
  filter: SlotFilter;
  /** Undefined: the slot keeps the newest event time (`last_time`). */
  field: string | undefined;
  type: ResolvedFeature['type'];
  dim: number | undefined;
  maxTtlMs: number;
}

/** The slot of a windowed operator over one field's values (distinct_count, top_k, approx_quantile): per-tile state. */
export interface ValueWindowPlan {
  index: number;
  /** Position in EntityState.slots (set once the plan is compiled). */
  slot: number;
  filter: SlotFilter;
  field: string;
  tileMs: number;
  spanTiles: number;
  maxTtlMs: number;
}

export type DistinctPlan = ValueWindowPlan;

export interface RecentPlan {
  index: number;
  /** Position in EntityState.slots (set once the plan is compiled). */
  slot: number;
  filter: SlotFilter;
  field: string;
  k: number;
  maxTtlMs: number;
}

/** top_k: per value, its count per tile. */
export type TopPlan = ValueWindowPlan;

/** approx_quantile: log-bucket counts per tile (see quantile.ts). */
export type QuantilePlan = ValueWindowPlan;

/**
 * approx_distinct: exact value hashes, then HyperLogLog registers, per tile
 * (see approx-distinct.ts). A lifetime slot keeps everything since it was
 * last fresh in tile 0: tileMs and spanTiles are 0, maxTtlMs its TTL.
 */
export interface ApproxPlan extends ValueWindowPlan {
  lifetime: boolean;
}

/** `window: "lifetime"` count/sum/min/max: one running aggregate, reset when it lapsed (see update.ts). */
export interface LifetimePlan {
  index: number;
  /** Position in EntityState.slots (set once the plan is compiled). */
  slot: number;
  filter: SlotFilter;
  /** Undefined: counts every event. */
  field: string | undefined;
  ttlMs: number;
}

/** first (k = 0: one typed value) and first_k (k distinct values): the earliest since the slot was last fresh. */
export interface FirstPlan {
  index: number;
  /** Position in EntityState.slots (set once the plan is compiled). */
  slot: number;
  filter: SlotFilter;
  field: string;
  type: ResolvedFeature['type'];
  /** Always undefined: first takes no vectors. */
  dim: undefined;
  k: number;
  ttlMs: number;
}

/** Series reading one field (or plain counts) under one filter: the value is read and checked once per event. */
export interface NumericGroup {
  field: string | undefined;
  filter: SlotFilter;
  needDecimals: boolean;
  series: SeriesPlan[];
}

/** Every slot kind other than tile series, listed per entity and per source. */
export interface SlotLists {
  lasts: LastPlan[];
  distincts: DistinctPlan[];
  recents: RecentPlan[];
  lifetimes: LifetimePlan[];
  firsts: FirstPlan[];
  tops: TopPlan[];
  quantiles: QuantilePlan[];
  approx: ApproxPlan[];
}

export interface SourcePlan extends SlotLists {
  /** Position among the entity's sources, and the slot of its de-duplication memory in EntityState.slots. */
  index: number;
  /** The source name's part of its event ids' hashes (dedup.ts). */
  seed: SourceSeed;
  numeric: NumericGroup[];
}

/** One output feature and the slot it reads. */
export type Output =
  | { kind: 'series'; feature: ResolvedFeature; slot: SeriesPlan; tiles: number }
  | { kind: 'last'; feature: ResolvedFeature; slot: LastPlan }
  | { kind: 'distinct'; feature: ResolvedFeature; slot: DistinctPlan; tiles: number }
  | { kind: 'recent'; feature: ResolvedFeature; slot: RecentPlan; k: number }
  | { kind: 'lifetime'; feature: ResolvedFeature; slot: LifetimePlan }
  | { kind: 'first'; feature: ResolvedFeature; slot: FirstPlan }
  | { kind: 'top'; feature: ResolvedFeature; slot: TopPlan; tiles: number; k: number }
  | { kind: 'quantile'; feature: ResolvedFeature; slot: QuantilePlan; tiles: number; q: number }
  | { kind: 'approx'; feature: ResolvedFeature; slot: ApproxPlan; tiles: number };

export interface EntityPlan extends SlotLists {
  entity: string;
  entityIndex: number;
  /** Names of the sources feeding the entity, in registry order. */
  sources: string[];
  series: SeriesPlan[];
  /** Length of EntityState.slots. */
  slotCount: number;
  bySource: Map<string, SourcePlan>;
  outputs: Output[];
  groups: string[];
  /** Identifies the slot layout, so state written under another registry is refused. */
  fingerprint: number;
}
