import { describe, expect, it } from 'vitest';
import { EntityIdError } from '../../../src/errors.ts';
import { validateEntityId } from '../../../src/schemas/entity-id.ts';

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
