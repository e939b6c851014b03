/**
 * What the reader needs per entity type, worked out once from the registry so
 * the hot path never filters feature lists: the groups (one Redis key each),
 * the stored features with their defaults, and the on-demand features.
 */
import { ConfigError, FeaturestreamError } from '../errors.ts';
import type { FeatureValue, Registry, ResolvedFeature, ResolvedOnDemandFeature } from '../schemas/registry.ts';
import { readerProjection } from '../stores/dynamo-item.ts';
import { UPDATED_FIELD, VERSION_FIELD } from '../stores/entity-state.ts';
import { GroupCodec, PACKED_FIELD, type PackedReader, type StoredLayout } from '../stores/vector-layout.ts';
import type { VectorLayout } from '../schemas/registry-input.ts';
import type { HashFields } from './redis-batch.ts';
import type { ServedValue } from './types.ts';

/**
 * One group: a Redis key, read in the layout of the keyspace version being
 * read: packed, the string's value (MGET, or GET in a pipeline) decoded by
 * `packed`; packed-hash, HGET `_p` decoded the same way; per field, HMGET
 * `_version _updated_ms <features...>`.
 */
export interface GroupPlan {
  name: string;
  features: readonly ResolvedFeature[];
  /** Position of each of `features` in the entity's value array. */
  slots: readonly number[];
  read: Readonly<Record<StoredLayout, HashFields>>;
  /** Decodes this plan's features out of the group's packed blob (compiled once). */
  packed: PackedReader;
}

/** Positions in a group's per-field HMGET reply; features follow from FIRST_FEATURE on. */
export const VERSION_AT = 0;
export const UPDATED_AT = 1;
export const FIRST_FEATURE = 2;

export interface EntityPlan {
  entity: string;
  /** The registry's layout: how a keyspace version with no recorded layout is read. */
  layout: VectorLayout;
  groups: readonly GroupPlan[];
  features: readonly ResolvedFeature[];
  onDemand: readonly ResolvedOnDemandFeature[];
  /**
   * Every stored feature at its training-time default, in `features` order.
   * Stored vectors keep values positionally like this: filling an array is
   * much cheaper than building an object key by key, which happens once, when
   * the answer is assembled.
   */
  defaults: readonly ServedValue[];
  /** Positions in `features` of vector-typed features: handed out as private copies. */
  vectorSlots: readonly number[];
  /** Names of all stored features, the `defaulted` list of an all-default vector. */
  featureNames: readonly string[];
  dynamoProjection: { expression: string; names: Record<string, string> };
}

export function planEntities(registry: Registry): Map<string, EntityPlan> {
  const plans = new Map<string, EntityPlan>();
  for (const { name: entity } of registry.entities) {
    plans.set(entity, planOf(registry, entity, registry.featuresOf(entity), registry.onDemand.filter((o) => o.entity === entity)));
  }
  return plans;
}

/**
 * The plan for a subset of an entity's features (`GetOptions.features`): the
 * named stored features plus the inputs of the named on-demand ones, and only
 * the groups holding them. Throws a ConfigError naming an unknown feature.
 */
export function planSubset(registry: Registry, plan: EntityPlan, names: readonly string[]): EntityPlan {
  const stored = new Set<string>();
  const onDemand = new Set<string>();
  for (const name of names) {
    const od = plan.onDemand.find((o) => o.name === name);
    if (od !== undefined) {
      onDemand.add(name);
      if (od.input !== undefined) stored.add(od.input);
    } else if (plan.featureNames.includes(name)) {
      stored.add(name);
    } else {
      throw new ConfigError(`features: "${name}" is not a feature of entity "${plan.entity}"; it has ${[...plan.featureNames, ...plan.onDemand.map((o) => o.name)].join(', ')}`);
    }
  }
  return planOf(
    registry,
    plan.entity,
    plan.features.filter((f) => stored.has(f.name)),
    plan.onDemand.filter((o) => onDemand.has(o.name)),
  );
}

function planOf(registry: Registry, entity: string, features: readonly ResolvedFeature[], onDemand: readonly ResolvedOnDemandFeature[]): EntityPlan {
  const slotOf = new Map(features.map((f, i) => [f.name, i]));
  const groups = registry.groupsOf(entity).flatMap((g): GroupPlan[] => {
    const names = g.features.filter((n) => slotOf.has(n));
    if (names.length === 0) return [];
    const members = names.map((n) => features[slotOf.get(n)!]!);
    const codec = new GroupCodec(g.features.map((n) => registry.feature(n)!));
    return [
      {
        name: g.name,
        features: members,
        slots: names.map((n) => slotOf.get(n)!),
        read: {
          fields: { fields: [VERSION_FIELD, UPDATED_FIELD, ...members.map((f) => f.name)], binary: members.some((f) => f.type === 'vector') },
          packed: { fields: [], binary: true },
          'packed-hash': { fields: [PACKED_FIELD], binary: true },
        },
        packed: codec.reader(members),
      },
    ];
  });
  return {
    entity,
    layout: registry.layout,
    groups,
    features,
    onDemand,
    // Frozen: every all-default vector shares these, so none may be changed through one of them.
    defaults: Object.freeze(features.map((f) => shareable(Array.isArray(f.default) ? [...f.default] : f.default))),
    vectorSlots: features.flatMap((f, i) => (f.type === 'vector' ? [i] : [])),
    // Frozen: it is also the shared `defaulted` list of every all-default vector.
    featureNames: Object.freeze(features.map((f) => f.name)),
    dynamoProjection: readerProjection(features),
  };
}

/**
 * A value safe to share between vectors: lists are frozen (in place; callers
 * pass their own array). Float32Arrays cannot be frozen, so the reader copies
 * them into every vector it hands out instead (`vectorSlots`).
 */
export function shareable(value: FeatureValue): ServedValue {
  return Array.isArray(value) ? Object.freeze(value) : value;
}

export function unknownEntity(entity: string, plans: Map<string, EntityPlan>): FeaturestreamError {
  return new FeaturestreamError('NOT_FOUND', `unknown entity type "${entity}"; the registry has ${[...plans.keys()].join(', ')}`, false, {
    details: { entity },
  });
}
