/**
 * Reads the current Redis copy of entities for the sync: every vector hash,
 * the state hash and their remaining TTLs, one atomic script call per entity,
 * all in one round trip. The sync always ships what Redis holds NOW, not what
 * the enqueuing batch wrote, so a late or repeated job can only move DynamoDB
 * forward.
 */
import type { FeatureValue, Registry } from '../schemas/registry.ts';
import type { EntityVector, ItemFeature } from '../stores/dynamo-item.ts';
import { parseStoredState } from '../stores/entity-state.ts';
import type { EntityRef, Keys } from '../stores/keys.ts';
import type { RedisClient } from '../stores/redis.ts';
import { EntityLayout, type EntityTypeLayout } from '../consumers/entity-layout.ts';
import { perEntity } from './pipeline.ts';
import { queueSyncScript } from './scripts.ts';

export interface EntitySnapshot {
  vector: EntityVector;
  /** Applied-offset fields of the state hash: the replay fence, restored with the state. */
  offsets: Map<string, number>;
}

/** Per ref: a snapshot, `gone` (every vector key expired: nothing to ship), or why it could not be read. */
export type SnapshotResult =
  | { kind: 'snapshot'; snapshot: EntitySnapshot }
  | { kind: 'gone' }
  | { kind: 'error'; error: Error; retriable: boolean };

/** Per entity type: the group layout plus the flat feature list the item mapping needs. */
export class SyncLayout {
  private readonly layout: EntityLayout;
  private readonly features = new Map<string, ItemFeature[]>();

  constructor(readonly registry: Registry) {
    this.layout = new EntityLayout(registry);
    for (const e of registry.entities) this.features.set(e.name, registry.featuresOf(e.name));
  }

  /** Undefined for an entity type the registry does not know (or that stores no features). */
  entity(entityType: string): EntityTypeLayout | undefined {
    return this.features.get(entityType)?.length ? this.layout.entity(entityType) : undefined;
  }

  featuresOf(entityType: string): ItemFeature[] {
    return this.features.get(entityType) ?? [];
  }
}

export async function readSnapshots(
  redis: RedisClient,
  keys: Keys,
  layout: SyncLayout,
  keyspaceVersion: number,
  refs: readonly EntityRef[],
  nowMs: number,
): Promise<SnapshotResult[]> {
  const known = refs.map((ref) => layout.entity(ref.entityType));
  const readable = refs.flatMap((ref, i) => (known[i] ? [{ ref, entity: known[i], index: i }] : []));
  const replies = await perEntity(redis, readable.length, (pipeline, i) => {
    const { ref, entity } = readable[i]!;
    const entityKeys = [keys.state(ref, keyspaceVersion), ...entity.groups.map((g) => keys.vector(ref, g.name, keyspaceVersion))];
    queueSyncScript(pipeline, 'syncRead', entityKeys, [], true);
  });
  const out: SnapshotResult[] = refs.map((ref) => ({
    kind: 'error',
    error: new Error(`entity type "${ref.entityType}" has no stored features in the registry`),
    retriable: false,
  }));
  readable.forEach(({ ref, entity, index }, i) => {
    const reply = replies[i]!;
    if (!reply.ok) {
      out[index] = { kind: 'error', error: reply.error, retriable: true };
      return;
    }
    try {
      out[index] = parseSnapshot(reply.value as Array<Buffer | Buffer[] | number>, entity, keys.state(ref, keyspaceVersion), nowMs);
    } catch (error) {
      out[index] = { kind: 'error', error: error as Error, retriable: false };
    }
  });
  return out;
}

function parseSnapshot(reply: Array<Buffer | Buffer[] | number>, entity: EntityTypeLayout, stateKey: string, nowMs: number): SnapshotResult {
  const state = parseStoredState(toRecord(reply[0] as Buffer[]), stateKey);
  const features: Record<string, FeatureValue> = {};
  let version = state.version;
  let updatedMs = 0;
  let ttlMs = -2;
  let present = false;
  entity.groups.forEach((group, g) => {
    // Any layout: a version's layout is fixed, but this reads whatever the key holds (a string's value or a hash's fields).
    const content = reply[2 + 2 * g] as Buffer | Buffer[];
    const stored = group.codec.decode(Buffer.isBuffer(content) ? content : toRecord(content));
    const pttl = reply[3 + 2 * g] as number;
    if (stored === undefined) return;
    present = true;
    // The materialize script stamps every group and the state with one version; max() covers a group that expired alone.
    version = Math.max(version, stored.version ?? 0);
    updatedMs = Math.max(updatedMs, stored.updatedMs ?? 0);
    // PTTL -1 (no expiry) cannot come from the worker; fall back to the group's configured TTL.
    ttlMs = Math.max(ttlMs, pttl >= 0 ? pttl : group.keyTtlMs);
    // Values that cannot be read are left out: the reader serves their defaults, as it would from Redis.
    Object.assign(features, stored.values);
  });
  if (!present || !Number.isSafeInteger(version) || version <= 0) return { kind: 'gone' };
  const vector: EntityVector = { features, version, updatedMs, expiresAtMs: nowMs + ttlMs };
  if (state.bytes) vector.state = state.bytes;
  return { kind: 'snapshot', snapshot: { vector, offsets: state.offsets } };
}

function toRecord(flat: Buffer[]): Record<string, Buffer> | undefined {
  if (flat.length === 0) return undefined;
  const out: Record<string, Buffer> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!.toString()] = flat[i + 1]!;
  return out;
}
