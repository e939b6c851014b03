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
