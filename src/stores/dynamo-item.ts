/**
 * The DynamoDB item layout of one entity: the durable copy of its Redis
 * feature vectors, written by the sync writer and read by the serving reader's
 * fallback. Both sides use this module only.
 *
 *   pk          S  Keys.dynamoPk(ref, version), e.g. `user#u12345` (`v2#user#u12345`)
 *   <feature>   one attribute per stored feature, in its native type:
 *                 int, float     N
 *                 string         S
 *                 string_list    L of S
 *                 vector         B, packed little-endian float32 (4 x dim bytes)
 *               absent when the feature has lapsed: the reader serves its default
 *   version     N  the writer's monotonic `_version` (the Redis hash's `_version`)
 *   updated_ms  N  write time in epoch ms (the Redis hash's `_updated_ms`)
 *   expires_at  N  TTL in epoch seconds, equal to the Redis key's expiry
 *   state       B  optional serialized window state, for rebuilding Redis
 *   _offsets    M  optional Kafka offsets the state has applied (`o:<topic>:<partition>` -> N),
 *                  so a rebuilt entity fences redelivered events; `_` cannot start a feature name
 *
 * DynamoDB deletes expired items lazily (up to days late), so readers treat an
 * item whose expires_at has passed as missing. Feature names that collide with
 * the reserved attribute names above cannot be stored.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { RegistryError } from '../errors.ts';
import type { FeatureType } from '../schemas/registry-input.ts';
import { DYNAMO_PARTITION_KEY, type EntityRef, type Keys } from './keys.ts';

export const ITEM_ATTRIBUTES = {
  version: 'version',
  updatedMs: 'updated_ms',
  expiresAt: 'expires_at',
  state: 'state',
  offsets: '_offsets',
} as const;

const RESERVED = new Set<string>([DYNAMO_PARTITION_KEY, ...Object.values(ITEM_ATTRIBUTES)]);

/** What the item layout needs to know of a feature; the registry's compiled features fit. */
export interface ItemFeature {
  name: string;
  type: FeatureType;
}

export type StoredValue = number | string | string[] | Float32Array;

export interface EntityVector {
  /** Present feature values; a feature left out (or null) has lapsed. */
  features: Record<string, StoredValue | null | undefined>;
  version: number;
  updatedMs: number;
  /** Expiry in epoch ms (the Redis key's expiry); stored rounded up to seconds. */
  expiresAtMs: number;
  state?: Uint8Array;
}

export interface DecodedItem {
  /** Features present in the item with the attribute type their feature type needs. */
  features: Record<string, StoredValue>;
  /** Features present with the wrong attribute type or shape: served as defaults. */
  corrupt: string[];
  version: number | undefined;
  updatedMs: number | undefined;
  expiresAtMs: number | undefined;
  state?: Uint8Array;
}

export function vectorToItem(
  keys: Keys,
  ref: EntityRef,
  keyspaceVersion: number,
  vector: EntityVector,
  features: readonly ItemFeature[],
): Record<string, AttributeValue> {
  const item: Record<string, AttributeValue> = {
    ...keys.dynamoKey(ref, keyspaceVersion),
    [ITEM_ATTRIBUTES.version]: { N: String(vector.version) },
    [ITEM_ATTRIBUTES.updatedMs]: { N: String(vector.updatedMs) },
    [ITEM_ATTRIBUTES.expiresAt]: { N: String(Math.ceil(vector.expiresAtMs / 1000)) },
  };
  if (vector.state) item[ITEM_ATTRIBUTES.state] = { B: vector.state };
  for (const feature of features) {
    if (RESERVED.has(feature.name)) {
      throw new RegistryError(`feature name "${feature.name}" is reserved in the DynamoDB item layout`);
    }
    const value = vector.features[feature.name];
    if (value !== null && value !== undefined) item[feature.name] = encodeAttribute(feature, value);
  }
  return item;
}

function encodeAttribute(feature: ItemFeature, value: StoredValue): AttributeValue {
  switch (feature.type) {
    case 'int':
    case 'float':
      return { N: String(value) };
    case 'string':
      return { S: String(value) };
    case 'string_list':
      return { L: (value as string[]).map((s) => ({ S: s })) };
    case 'vector':
      return { B: packFloat32(value as Float32Array) };
  }
}

/**
 * Decodes an item; undefined when it is expired at `nowMs` (as if absent).
 * Never throws on bad data: mismatched attributes are listed in `corrupt`.
 */
export function itemToVector(item: Record<string, AttributeValue>, features: readonly ItemFeature[], nowMs: number): DecodedItem | undefined {
  const expiresAtS = numberAttr(item[ITEM_ATTRIBUTES.expiresAt]);
  if (expiresAtS !== undefined && expiresAtS * 1000 < nowMs) return undefined;
  const decoded: DecodedItem = {
    features: {},
    corrupt: [],
    version: numberAttr(item[ITEM_ATTRIBUTES.version]),
    updatedMs: numberAttr(item[ITEM_ATTRIBUTES.updatedMs]),
    expiresAtMs: expiresAtS === undefined ? undefined : expiresAtS * 1000,
  };
  const state = item[ITEM_ATTRIBUTES.state]?.B;
  if (state) decoded.state = state;
  for (const feature of features) {
    const attr = item[feature.name];
    if (attr === undefined) continue;
    const value = decodeAttribute(feature, attr);
    if (value === undefined) decoded.corrupt.push(feature.name);
    else decoded.features[feature.name] = value;
  }
  return decoded;
}

function decodeAttribute(feature: ItemFeature, attr: AttributeValue): StoredValue | undefined {
  switch (feature.type) {
    case 'int': {
      const n = numberAttr(attr);
      return n !== undefined && Number.isSafeInteger(n) ? n : undefined;
    }
    case 'float':
      return numberAttr(attr);
    case 'string':
      return attr.S;
    case 'string_list': {
      if (!attr.L) return undefined;
      const out: string[] = [];
      for (const entry of attr.L) {
        if (entry.S === undefined) return undefined;
        out.push(entry.S);
      }
      return out;
    }
    case 'vector':
      return attr.B && attr.B.byteLength % 4 === 0 ? unpackFloat32(attr.B) : undefined;
  }
}

function numberAttr(attr: AttributeValue | undefined): number | undefined {
  if (attr?.N === undefined) return undefined;
  const n = Number(attr.N);
  return Number.isFinite(n) ? n : undefined;
}

/** Little-endian whatever the host, so items move between machines unchanged. */
export function packFloat32(values: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return bytes;
}

export function unpackFloat32(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/**
 * ProjectionExpression for the reader: the features and metadata, not the
 * window state (which can be far larger than the vector and costs read units).
 */
export function readerProjection(features: readonly ItemFeature[]): { expression: string; names: Record<string, string> } {
  const names: Record<string, string> = {};
  const attrs = [DYNAMO_PARTITION_KEY, ITEM_ATTRIBUTES.version, ITEM_ATTRIBUTES.updatedMs, ITEM_ATTRIBUTES.expiresAt, ...features.map((f) => f.name)];
  const parts = attrs.map((name, i) => {
    names[`#a${i}`] = name;
    return `#a${i}`;
  });
  return { expression: parts.join(', '), names };
}

/**
 * The durable copy of the keyspace pointer, one reserved item per key prefix
 * (pk `Keys.dynamoKeyspacePk()`, never an entity's):
 *   active      N  the keyspace version readers follow (Redis `fs:active_version`)
 *   layouts     M  version -> registry layout fingerprint (Redis `fs:layouts`)
 *   updated_ms  N  write time
 * It has no expires_at: it must outlive every entity item.
 */
export interface KeyspaceRecord {
  active: number;
  layouts: Map<number, string>;
}

export const KEYSPACE_ATTRIBUTES = { active: 'active', layouts: 'layouts', updatedMs: 'updated_ms' } as const;

export function keyspaceRecordToItem(keys: Keys, record: KeyspaceRecord, nowMs: number): Record<string, AttributeValue> {
  const layouts: Record<string, AttributeValue> = {};
  for (const [version, fingerprint] of record.layouts) layouts[String(version)] = { S: fingerprint };
  return {
    [DYNAMO_PARTITION_KEY]: { S: keys.dynamoKeyspacePk() },
    [KEYSPACE_ATTRIBUTES.active]: { N: String(record.active) },
    [KEYSPACE_ATTRIBUTES.layouts]: { M: layouts },
    [KEYSPACE_ATTRIBUTES.updatedMs]: { N: String(nowMs) },
  };
}

/** Undefined when the item is missing or malformed (then nothing is restored). */
export function itemToKeyspaceRecord(item: Record<string, AttributeValue> | undefined): KeyspaceRecord | undefined {
  const active = numberAttr(item?.[KEYSPACE_ATTRIBUTES.active]);
  if (item === undefined || active === undefined || !Number.isSafeInteger(active) || active < 1) return undefined;
  const layouts = new Map<number, string>();
  for (const [version, attr] of Object.entries(item[KEYSPACE_ATTRIBUTES.layouts]?.M ?? {})) {
    const v = Number(version);
    if (Number.isSafeInteger(v) && v >= 1 && attr.S !== undefined) layouts.set(v, attr.S);
  }
  return { active, layouts };
}
