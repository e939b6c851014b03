/**
 * The authored form of a feature registry (what `defineConfig` and a JSON
 * file contain) and the compile-time feature vector type derived from it.
 */
import type { z } from 'zod';
import type { Duration } from './duration.ts';

export const FEATURE_TYPES = ['int', 'float', 'string', 'string_list', 'vector'] as const;
export type FeatureType = (typeof FEATURE_TYPES)[number];
/** How a feature group is stored in its Redis hash (see stores/vector-layout.ts); `packed` by default. */
export const VECTOR_LAYOUTS = ['packed', 'fields'] as const;
export type VectorLayout = (typeof VECTOR_LAYOUTS)[number];

/** Operators over an event-time window kept as tiles. */
export const WINDOWED_OPS = ['count', 'sum', 'avg', 'min', 'max', 'distinct_count', 'stddev', 'variance', 'top_k', 'approx_quantile', 'approx_distinct'] as const;
/**
 * Operators over the latest events, without a window; they lapse by freshness.
 * `last_time` is the newest event time in epoch seconds; `last_k` the k most
 * recent distinct values of a field, newest first.
 */
export const LATEST_OPS = ['last', 'last_time', 'last_k'] as const;
/** The earliest events since the feature was last fresh: `first` value by event time, `first_k` distinct values, earliest first. */
export const EARLIEST_OPS = ['first', 'first_k'] as const;
export const STORED_OPS = [...WINDOWED_OPS, ...LATEST_OPS, ...EARLIEST_OPS] as const;
/** Ops that take `window: "lifetime"`: every event since the feature was last fresh (it lapses only by freshness). */
export const LIFETIME_OPS = ['count', 'sum', 'min', 'max', 'first', 'first_k', 'approx_distinct'] as const;
export const LIFETIME = 'lifetime';
export type WindowedOp = (typeof WINDOWED_OPS)[number];
export type StoredOp = (typeof STORED_OPS)[number];

/**
 * Read-time features: `time_since` an input time feature; hour_of_day,
 * day_of_week and is_weekend from the request time (UTC); ratio, difference
 * and zscore over stored features (and, for zscore, a request context value).
 */
export const ON_DEMAND_KINDS = ['time_since', 'hour_of_day', 'day_of_week', 'is_weekend', 'ratio', 'difference', 'zscore'] as const;
export type OnDemandKind = (typeof ON_DEMAND_KINDS)[number];
export const TIME_UNITS = ['ms', 's', 'm', 'h', 'd'] as const;
export type TimeUnit = (typeof TIME_UNITS)[number];

export const FIELD_KINDS = ['string', 'number', 'int', 'boolean', 'time', 'vector'] as const;
export type FieldKind = (typeof FIELD_KINDS)[number];
/** A JSON-friendly event field declaration; a trailing `?` makes it optional. */
export type FieldSpec = FieldKind | `${FieldKind}?`;
export const BUILTIN_SCHEMAS = ['transactions', 'logins', 'profiles', 'embeddings'] as const;
export type BuiltinSchemaName = (typeof BUILTIN_SCHEMAS)[number];

export interface EntityInput {
  name: string;
  /**
   * Composite entities: the key names, in order. The entity id is the key
   * values in this order joined by `|` (so `|` is not allowed in a value).
   */
  keys?: readonly string[];
}

export interface SourceInput {
  name: string;
  /** Kafka topic; defaults to the source name. */
  topic?: string;
  entity: string;
  /** Field holding the entity id (also the Kafka message key); single-key entities. */
  keyField?: string;
  /** Composite entities: the fields holding the key values, in the entity's key order. */
  keyFields?: readonly string[];
  /** Field holding the event time: epoch milliseconds or an ISO-8601 string. */
  timeField: string;
  /** Field holding the optional event id used for de-duplication; default `event_id`. */
  idField?: string;
  /** A zod schema (TS modules), a built-in schema name, or a field map (JSON files). */
  schema: z.ZodType | BuiltinSchemaName | Readonly<Record<string, FieldSpec>>;
  maxMessageBytes?: number;
}

export type DefaultInput = number | string | readonly string[] | readonly number[] | null;

/** A value a predicate compares a field with (booleans are 0/1 once decoded). */
export type PredicateValue = string | number | boolean;

/** One condition on an event field; several conditions (and several operators in one) are ANDed. */
export interface PredicateInput {
  field: string;
  eq?: PredicateValue;
  ne?: PredicateValue;
  in?: readonly PredicateValue[];
  gt?: number;
  gte?: number;
  lt?: number;
  lte?: number;
  /** true: the field is present; false: it is absent. */
  exists?: boolean;
}

/** An event's decoded fields, as a feature filter sees them. */
export type EventFields = Readonly<Record<string, unknown>>;

/** JSON: predicates, ANDed. TypeScript registries may pass a function of the decoded fields instead. */
export type WhereInput = readonly PredicateInput[] | ((fields: EventFields) => boolean);

export interface FeatureInput {
  name: string;
  source: string;
  op: StoredOp;
  /** Event field read by the operator; not used by `count` and `last_time`. */
  field?: string;
  /** Required for windowed ops, not allowed for latest ops; `"lifetime"` for count, sum, min, max, first, first_k, approx_distinct. */
  window?: Duration | typeof LIFETIME;
  /** Tile size; by default the largest round size giving the window at least 20 tiles. */
  tile?: Duration;
  type: FeatureType;
  /** The value the model was trained with for a missing feature. */
  default: DefaultInput;
  /** Defaults to the window; required for latest ops. The field is removed after 2 x freshness without events. */
  freshness?: Duration;
  /** `last_k`, `first_k` and `top_k` only: how many values to keep. */
  k?: number;
  /** `vector` only: the dimension. */
  dim?: number;
  /** `approx_quantile` only: the quantile, in (0, 1) (0.95 = p95). */
  q?: number;
  /** Only matching events reach the feature (and refresh its freshness). */
  where?: WhereInput;
}

/** What a caller passes with a read (`getMany(..., { context })`) for on-demand features. */
export type RequestContext = Readonly<Record<string, unknown>>;

/** Stored feature values as an on-demand function sees them (defaults filled in). */
export type StoredValues = Readonly<Record<string, number | string | readonly string[] | Float32Array | null>>;

export interface OnDemandInput {
  name: string;
  entity: string;
  /** Required unless `compute` is given. */
  kind?: OnDemandKind;
  /** `time_since` (a stored time feature) and `zscore` (a stored number): the input. */
  input?: string;
  /** Unit of the input time; default `ms`. */
  inputUnit?: 'ms' | 's';
  /** Unit of the result (floored); default `s`. */
  unit?: TimeUnit;
  /** `ratio`: numerator / denominator (the default when the denominator is 0). */
  numerator?: string;
  denominator?: string;
  /** `difference`: left - right. */
  left?: string;
  right?: string;
  /** `zscore`: (x - mean) / stddev, x = the stored `input` or the request context's `contextField`. */
  contextField?: string;
  mean?: string;
  stddev?: string;
  /** TypeScript registries: any function of the stored features and the request context. */
  compute?: (features: StoredValues, context: RequestContext) => number;
  /** Default `int` for time_since and the calendar kinds, `float` for the rest. */
  type?: 'int' | 'float';
  default: number;
}

export interface GroupInput {
  name: string;
  features: readonly string[];
}

export interface RegistryInput {
  entities: readonly EntityInput[];
  sources: readonly SourceInput[];
  features: readonly FeatureInput[];
  onDemand?: readonly OnDemandInput[];
  /** Features stored together in one Redis hash; default one group `features` per entity. */
  groups?: readonly GroupInput[];
  /**
   * Vector hash layout: `packed` (default, one binary field per group) or
   * `fields` (one hash field per feature). Part of the keyspace version: a
   * change goes through a backfill and the atomic switch.
   */
  layout?: VectorLayout;
}

/** Identity: exists so a registry literal keeps its literal types for FeatureValues. */
export function defineConfig<const C extends RegistryInput>(config: C): C {
  return config;
}

type ValueOfType<T extends FeatureType> = T extends 'int' | 'float'
  ? number
  : T extends 'string'
    ? string
    : T extends 'string_list'
      ? string[]
      : Float32Array;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The feature vector a reader returns for a registry, on-demand features included. */
export type FeatureValues<C extends RegistryInput> = Simplify<
  {
    [F in C['features'][number] as F['name']]:
      | ValueOfType<F['type']>
      | (F['default'] extends null ? null : never);
  } & {
    [F in NonNullable<C['onDemand']>[number] as F['name']]: number;
  }
>;
