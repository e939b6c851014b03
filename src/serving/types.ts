import type { FeatureValue } from '../schemas/registry.ts';
import type { FeatureValues, RegistryInput } from '../schemas/registry-input.ts';

export type VectorSource = 'cache' | 'redis' | 'dynamodb' | 'default';

/** One entity's features as the reader returns them. */
export interface FeatureVector<F = Record<string, unknown>> {
  entityId: string;
  features: F;
  /** Where the stored values came from; `default` means none were found or reachable. */
  source: VectorSource;
  /** Features that carry their registry default (missing, lapsed, corrupt or unreachable). */
  defaulted: string[];
  /** Now minus the oldest write time of the stored values; undefined when nothing was stored. */
  ageMs: number | undefined;
  /** The writer's monotonic `_version` (highest across the entity's groups). */
  version?: number;
}

/** Entity type names of a registry. */
export type EntityName<C extends RegistryInput> = C['entities'][number]['name'];

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
