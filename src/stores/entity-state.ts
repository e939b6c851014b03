/**
 * Field layout of the per-entity state hash and the reserved fields of vector
 * hashes (the key names themselves come from keys.ts). Shared by the worker's
 * load and write paths and by tests that inspect Redis.
 *
 * State hash:  s = engine state bytes, _version, o:<topic>:<partition> = last applied offset
 * Vector hash: one field per non-lapsed feature, plus _version and _updated_ms
 */
import { StateCorruptError } from '../errors.ts';

export const VERSION_FIELD = '_version';
export const UPDATED_FIELD = '_updated_ms';
export const STATE_BYTES_FIELD = 's';
const OFFSET_PREFIX = 'o:';

/** Reserved vector-hash fields: never feature names. */
export const RESERVED_VECTOR_FIELDS: ReadonlySet<string> = new Set([VERSION_FIELD, UPDATED_FIELD]);

/** The state-hash field fencing one source partition (topic names cannot contain `:`). */
export function offsetField(topic: string, partition: number): string {
  return `${OFFSET_PREFIX}${topic}:${partition}`;
}

export interface StoredState {
  /** 0 when the entity has no state yet. */
  version: number;
  bytes: Buffer | undefined;
  /** offset field -> last applied offset */
  offsets: Map<string, number>;
}

export const EMPTY_STATE: StoredState = Object.freeze({ version: 0, bytes: undefined, offsets: new Map() });

/** Parses an HGETALL (Buffer) reply of a state hash. */
export function parseStoredState(reply: Record<string, Buffer> | null | undefined, key: string): StoredState {
  if (!reply || Object.keys(reply).length === 0) return EMPTY_STATE;
  const offsets = new Map<string, number>();
  let version = 0;
  let bytes: Buffer | undefined;
  for (const [field, value] of Object.entries(reply)) {
    if (field === STATE_BYTES_FIELD) bytes = value;
    else if (field === VERSION_FIELD) version = Number(value.toString());
    else if (field.startsWith(OFFSET_PREFIX)) offsets.set(field, Number(value.toString()));
  }
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new StateCorruptError(`state hash ${key} has an invalid ${VERSION_FIELD}`, { details: { key } });
  }
  return { version, bytes, offsets };
}

/** Timer-index member for an entity; entity types never contain `:` (registry names), ids may. */
export function timerMember(entityType: string, entityId: string): string {
  return `${entityType}:${entityId}`;
}

export function parseTimerMember(member: string): { entityType: string; entityId: string } | undefined {
  const sep = member.indexOf(':');
  if (sep <= 0) return undefined;
  return { entityType: member.slice(0, sep), entityId: member.slice(sep + 1) };
}
