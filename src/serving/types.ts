import type { ErrorCode } from '../errors.ts';
import type { FeatureValue } from '../schemas/registry.ts';
import type { FeatureValues, RegistryInput } from '../schemas/registry-input.ts';

/** `invalid`: a rejected row (see FeatureVector.error). */
export type VectorSource = 'cache' | 'redis' | 'dynamodb' | 'default' | 'invalid';

/**
 * A feature value as served: lists are frozen (shared with the cache and the
 * defaults, so no caller can change what another is served); a Float32Array
 * is a private copy (typed arrays cannot be frozen).
 */
export type ServedValue<V = FeatureValue> = V extends string[] ? readonly string[] : V;

/** A features record as served: read-only keys, read-only lists. */
export type ServedFeatures<F> = { readonly [K in keyof F]: ServedValue<F[K]> };

/** One entity's features as the reader returns them. Never mutate it: share-safe by construction. */
export interface FeatureVector<F = Record<string, unknown>> {
  readonly entityId: string;
  readonly features: ServedFeatures<F>;
  /** Where the stored values came from; `default` means none were found or reachable. */
  readonly source: VectorSource;
  /** Features that carry their registry default (missing, lapsed, corrupt or unreachable). */
  readonly defaulted: readonly string[];
  /** Now minus the oldest write time of the stored values; undefined when nothing was stored. */
  readonly ageMs: number | undefined;
  /** The writer's monotonic `_version` (highest across the entity's groups). */
  readonly version?: number;
  /**
   * Set only on a rejected row of getMany (an invalid id, never looked up):
   * then `source` is `invalid`, `features` is empty and `defaulted` too.
   */
  readonly error?: { readonly code: ErrorCode; readonly message: string };
}

/** Entity type names of a registry. */
export type EntityName<C extends RegistryInput> = C['entities'][number]['name'];

/** The key object of a composite entity type (extra properties are ignored); never for a single-key one. */
export type EntityKeyObject<C extends RegistryInput, E extends string> =
  Extract<C['entities'][number], { name: E }> extends { keys: readonly (infer K extends string)[] } ? { readonly [P in K]: string | number } : never;

/**
 * An id as get/getMany take it: the id string (`u1|m9`: the key values in key
 * order joined by `|`) or, for a composite entity, its key values by name. A
 * registry known only at run time takes any key object (checked per call).
 * Keep the record spelled out: with an alias for it, a typed reader was no
 * longer assignable to a plain FeatureReader (reader-composite-ids.test.ts checks).
 */
export type EntityIdInput<C extends RegistryInput, E extends string> =
  | string
  | EntityKeyObject<C, E>
  | (string extends EntityName<C> ? Readonly<Record<string, string | number>> : never);

/**
 * The feature values of one entity type: stored features whose source has
 * that entity, plus that entity's on-demand features. A registry known only
 * at run time (loadRegistryFile) gives a plain record.
 */
export type EntityFeatureValues<C extends RegistryInput, E extends string> = string extends EntityName<C>
  ? Record<string, FeatureValue>
  : Pick<
      FeatureValues<C>,
      Extract<
        | Extract<C['features'][number], { source: Extract<C['sources'][number], { entity: E }>['name'] }>['name']
        | Extract<NonNullable<C['onDemand']>[number], { entity: E }>['name'],
        keyof FeatureValues<C>
      >
    >;
