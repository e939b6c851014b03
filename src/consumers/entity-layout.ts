/**
 * What the sink needs per entity type, computed once from the registry: the
 * feature groups it writes (with their features, in order) and the state TTL.
 */
import type { Registry } from '../schemas/registry.ts';
import { offsetField } from '../stores/entity-state.ts';
import { GroupCodec } from '../stores/vector-layout.ts';

type Feature = Registry['features'][number];

export interface GroupLayout {
  name: string;
  keyTtlMs: number;
  features: Feature[];
  /** Both vector-hash layouts of the group, compiled once. */
  codec: GroupCodec;
}

export interface EntityTypeLayout {
  groups: GroupLayout[];
  /** Longest window or vector TTL plus a margin: state outlives every value it can still produce. */
  stateTtlMs: number;
}

/** Slack on top of the longest horizon, so a state key never expires while its events still count. */
const STATE_TTL_MARGIN_MS = 60 * 60 * 1000;

export class EntityLayout {
  private readonly byEntity = new Map<string, EntityTypeLayout>();
  private readonly offsetFields = new Map<string, string>();

  constructor(registry: Registry) {
    const features = new Map(registry.features.map((f) => [f.name, f]));
    for (const group of registry.groups) {
      const layout = this.byEntity.get(group.entity) ?? { groups: [], stateTtlMs: 0 };
      const members = group.features.map((name) => features.get(name)).filter((f): f is Feature => f !== undefined);
      layout.groups.push({ name: group.name, keyTtlMs: group.keyTtlMs, features: members, codec: new GroupCodec(members) });
      layout.stateTtlMs = Math.max(layout.stateTtlMs, group.keyTtlMs + STATE_TTL_MARGIN_MS);
      this.byEntity.set(group.entity, layout);
    }
    for (const f of registry.features) {
      const layout = this.byEntity.get(f.entity);
      if (layout) layout.stateTtlMs = Math.max(layout.stateTtlMs, (f.windowMs ?? 0) + STATE_TTL_MARGIN_MS);
    }
  }

  entity(entityType: string): EntityTypeLayout {
    const layout = this.byEntity.get(entityType);
    if (!layout) throw new Error(`entity type ${entityType} has no feature group in the registry`);
    return layout;
  }

  /** Cached: built once per topic-partition instead of once per entity. */
  offsetField(topic: string, partition: number): string {
    const id = `${topic}\u0000${partition}`;
    let field = this.offsetFields.get(id);
    if (field === undefined) {
      field = offsetField(topic, partition);
      this.offsetFields.set(id, field);
    }
    return field;
  }
}
