/**
 * The POST /features body: composite ids as objects of key values and an
 * optional request context are accepted; any other shape is a 400 naming the field.
 */
import { describe, expect, it } from 'vitest';
import { parseFeaturesRequest } from '../../../src/server/request.ts';

const parse = (body: unknown) => parseFeaturesRequest(JSON.stringify(body), 10);

describe('POST /features body', () => {
  it('takes key objects among the ids and a context of JSON scalars', () => {
    const body = { entity: 'user_merchant', ids: ['u1|m9', { user_id: 'u2', merchant_id: 7 }], context: { amount: 120, channel: 'web', first: true, note: null } };
    expect(parse(body)).toEqual({ ok: true, request: body });
    expect(parse({ entity: 'user', ids: ['u1'] })).toEqual({ ok: true, request: { entity: 'user', ids: ['u1'] } });
  });

  it('answers other shapes with a BAD_REQUEST naming the field', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ entity: 'user', ids: [1] }, /"ids" must be an array of strings/],
      [{ entity: 'user', ids: [null] }, /"ids" must be an array of strings/],
      [{ entity: 'user', ids: [['u1', 'm1']] }, /"ids" must be an array of strings/],
      [{ entity: 'user', ids: [{ user_id: { nested: 'x' } }] }, /objects of key values/],
      [{ entity: 'user', ids: [{ user_id: true }] }, /objects of key values/],
      [{ entity: 'user', ids: ['u1'], context: [1] }, /"context" must be an object of JSON scalars/],
      [{ entity: 'user', ids: ['u1'], context: 'amount=5' }, /"context" must be an object/],
      [{ entity: 'user', ids: ['u1'], context: null }, /"context" must be an object/],
      [{ entity: 'user', ids: ['u1'], context: { amount: { value: 5 } } }, /"context" must be an object of JSON scalars/],
      [{ entity: 'user', ids: ['u1'], context: { amounts: [5] } }, /"context" must be an object of JSON scalars/],
    ];
    for (const [body, message] of cases) {
      const parsed = parse(body);
      expect(parsed, JSON.stringify(body)).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
      if (!parsed.ok) expect(parsed.message).toMatch(message);
    }
  });
});
