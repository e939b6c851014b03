import { describe, expect, it } from 'vitest';
import { EntityIdError } from '../../../src/errors.ts';
import { entityIdOf, validateEntityId } from '../../../src/schemas/entity-id.ts';

describe('validateEntityId', () => {
  it.each(['u12345', 'a', 'x'.repeat(128), 'user-42_b.c', 'ünïcode', 'a/b@c'])('accepts %j', (id) => {
    expect(validateEntityId(id)).toBe(id);
  });

  it.each([
    ['', 'empty'],
    ['x'.repeat(129), 'too long'],
    ['u1:state', 'key separator'],
    ['u1#x', 'dynamo separator'],
    ['{u1}', 'hash tag'],
    ['u}1', 'brace'],
    ['u 1', 'space'],
    ['u\t1', 'tab'],
    ['u\n1', 'newline'],
    ['u\u00001', 'NUL'],
    ['u\u007f', 'DEL'],
    ['u\u2028', 'line separator'],
  ])('rejects %j (%s)', (id) => {
    expect(() => validateEntityId(id)).toThrow(EntityIdError);
  });

  it('rejects non-strings with a typed error', () => {
    expect(() => validateEntityId(42)).toThrow(EntityIdError);
  });
});

describe('entityIdOf', () => {
  it('is the key field value for single keys, and the key values joined by | in key order for composite keys', () => {
    expect(entityIdOf(['user_id'], { user_id: 'u1', merchant_id: 'm9' })).toBe('u1');
    expect(entityIdOf(['user_id', 'merchant_id'], { merchant_id: 'm9', user_id: 'u1' })).toBe('u1|m9');
    expect(entityIdOf(['user_id', 'n'], { user_id: 'u1', n: 42 })).toBe('u1|42');
  });

  it.each([
    [{ user_id: 'u|1', merchant_id: 'm9' }, /contains "\|"/],
    [{ user_id: 'u1', merchant_id: '' }, /merchant_id: expected a non-empty string/],
    [{ user_id: 'u1' }, /merchant_id: expected a non-empty string/],
    [{ user_id: 'u 1', merchant_id: 'm9' }, /whitespace/],
    [{ user_id: 'x'.repeat(100), merchant_id: 'y'.repeat(40) }, /limit is 128/],
  ])('refuses %j with EntityIdError', (fields, message) => {
    expect(() => entityIdOf(['user_id', 'merchant_id'], fields)).toThrow(message);
    expect(() => entityIdOf(['user_id', 'merchant_id'], fields)).toThrow(EntityIdError);
  });
});
