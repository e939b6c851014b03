import { EntityIdError } from '../errors.ts';

export const MAX_ENTITY_ID_LENGTH = 128;

/**
 * Ids go verbatim into Redis keys (`user:<id>:features`) and DynamoDB keys
 * (`user#<id>`), so the separators `:` and `#`, Cluster hash-tag braces,
 * whitespace and control characters are refused: no id can address another
 * entity's key or another slot.
 */
const VALID = /^[^\s\p{Cc}:{}#]+$/u;

/** The same rule as a boolean, for the decoder's fast path. */
export function isValidEntityId(id: string): boolean {
  return id.length > 0 && id.length <= MAX_ENTITY_ID_LENGTH && VALID.test(id);
}

export function validateEntityId(id: unknown): string {
  if (typeof id !== 'string') throw new EntityIdError(`entity id must be a string, got ${typeof id}`);
  if (id.length === 0) throw new EntityIdError('entity id is empty');
  if (id.length > MAX_ENTITY_ID_LENGTH) {
    throw new EntityIdError(`entity id is ${id.length} characters long; the limit is ${MAX_ENTITY_ID_LENGTH}`);
  }
  if (!VALID.test(id)) {
    throw new EntityIdError(`entity id ${JSON.stringify(id)} contains whitespace, a control character or one of : { } #`);
  }
  return id;
}

/** Joins the key values of a composite entity id. */
export const KEY_SEPARATOR = '|';

/** One key value of a composite id: a non-empty string (or a safe integer) without `|`. */
function keyValue(name: string, raw: unknown): string {
  const v = typeof raw === 'number' && Number.isSafeInteger(raw) ? String(raw) : raw;
  if (typeof v !== 'string' || v === '') throw new EntityIdError(`key ${name}: expected a non-empty string, got ${JSON.stringify(raw) ?? typeof raw}`);
  if (v.includes(KEY_SEPARATOR)) throw new EntityIdError(`key ${name}: ${JSON.stringify(v)} contains "${KEY_SEPARATOR}", which joins composite ids`);
  return v;
}

/**
 * The entity id of an event's decoded fields, or of a reader's key object:
 * the value of the single key field, or the key values in key order joined
 * by `|`. Throws EntityIdError when the id breaks the rule above.
 */
export function entityIdOf(keyFields: readonly string[], fields: Readonly<Record<string, unknown>>): string {
  if (keyFields.length === 1) return validateEntityId(fields[keyFields[0]!]);
  return validateEntityId(keyFields.map((k) => keyValue(k, fields[k])).join(KEY_SEPARATOR));
}
