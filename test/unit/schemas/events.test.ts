import { describe, expect, it } from 'vitest';
import { InvalidEventError } from '../../../src/errors.ts';
import { decodeEvent, parseEventTime } from '../../../src/schemas/events.ts';
import { loadRegistryFile, parseRegistry } from '../../../src/schemas/registry.ts';

const registry = await loadRegistryFile();
const tx = registry.source('transactions')!;
const profiles = registry.source('profiles')!;
const logins = registry.source('logins')!;

function failure(fn: () => unknown): InvalidEventError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidEventError);
    return e as InvalidEventError;
  }
  throw new Error('expected an InvalidEventError');
}

describe('decodeEvent', () => {
  it('decodes a transaction from a Buffer, epoch ms time', () => {
    const e = decodeEvent(tx, Buffer.from(JSON.stringify({ event_id: 'x1', user_id: 'u1', amount: 12.5, merchant_id: 'm9', ts: 1_700_000_000_123 })));
    expect(e).toEqual({
      source: 'transactions',
      entityId: 'u1',
      eventTimeMs: 1_700_000_000_123,
      eventId: 'x1',
      fields: { event_id: 'x1', user_id: 'u1', amount: 12.5, merchant_id: 'm9', ts: 1_700_000_000_123 },
    });
  });

  it('reads ISO-8601 times, normalizes is_premium and created_at', () => {
    const e = decodeEvent(
      profiles,
      JSON.stringify({ user_id: 'u1', created_at: '2020-02-03', credit_score_bucket: 4, is_premium: true, ts: '2025-01-01T01:00:00+01:00' }),
    );
    expect(e.eventTimeMs).toBe(Date.UTC(2025, 0, 1));
    expect(e.eventId).toBeUndefined();
    expect(e.fields).toMatchObject({ created_at: Date.UTC(2020, 1, 3), is_premium: 1 });
  });

  it('reads a date-time without offset as UTC', () => {
    expect(parseEventTime('2025-03-04T05:06:07.891')).toBe(Date.UTC(2025, 2, 4, 5, 6, 7, 891));
    expect(parseEventTime('2025-03-04T05:06:07+0530')).toBe(Date.UTC(2025, 2, 3, 23, 36, 7));
    expect(parseEventTime('March 4, 2025')).toBeUndefined();
    expect(parseEventTime(-1)).toBeUndefined();
  });

  it.each([
    ['null (tombstone)', null, /tombstone/],
    ['invalid JSON', '{"user_id":', /invalid JSON/],
    ['not an object', '[1]', /expected a JSON object/],
    ['schema path and message', JSON.stringify({ user_id: 'u1', amount: '12', merchant_id: 'm', ts: 1 }), /amount: .*expected number/],
    ['non-finite number', '{"user_id":"u1","amount":1e999,"merchant_id":"m","ts":1}', /amount: non-finite number/],
    ['missing key', JSON.stringify({ amount: 1, merchant_id: 'm', ts: 1 }), /user_id/],
    ['bad time', JSON.stringify({ user_id: 'u1', amount: 1, merchant_id: 'm', ts: 'yesterday' }), /ts: expected epoch milliseconds or an ISO-8601 time/],
  ])('rejects %s with EVENT_INVALID', (_, value, reason) => {
    const e = failure(() => decodeEvent(tx, value));
    expect(e.code).toBe('EVENT_INVALID');
    expect(e.retriable).toBe(false);
    expect(e.message).toMatch(reason);
  });

  it('rejects oversized messages with EVENT_TOO_LARGE before parsing', () => {
    const e = failure(() => decodeEvent(logins, `{"user_id":"${'u'.repeat(100)}","ts":1}`, { maxBytes: 64 }));
    expect(e.code).toBe('EVENT_TOO_LARGE');
    expect(e.details).toMatchObject({ maxBytes: 64 });
  });

  it.each(['a b', '{x}', 'x'.repeat(200), 'u:1', 'u#1', 'u\u00011', 'u\n', '\u007f'])('rejects the entity id %j with ENTITY_ID_INVALID (the reader\'s rule)', (id) => {
    const e = failure(() => decodeEvent(logins, JSON.stringify({ user_id: id, ts: 1 })));
    expect(e.code).toBe('ENTITY_ID_INVALID');
    expect(e.retriable).toBe(false);
    expect(e.message).toMatch(/user_id/);
  });

  it('accepts ids the reader accepts', () => {
    for (const id of ['u1', 'x'.repeat(128), 'ünïcode', 'a/b@c', 'a|b']) expect(decodeEvent(logins, JSON.stringify({ user_id: id, ts: 1 })).entityId).toBe(id);
  });

  it('builds composite ids from keyFields, and dead-letters a | inside a key value as ENTITY_ID_INVALID', () => {
    const r = parseRegistry({
      entities: [{ name: 'user_merchant', keys: ['user_id', 'merchant_id'] }],
      sources: [{ name: 'pair', topic: 'transactions', entity: 'user_merchant', keyFields: ['user_id', 'merchant_id'], timeField: 'ts', schema: 'transactions' }],
      features: [{ name: 'n', source: 'pair', op: 'count', window: '1h', type: 'int', default: 0 }],
    });
    const pair = r.source('pair')!;
    const body = { user_id: 'u1', amount: 1, merchant_id: 'm9', ts: 1 };
    expect(decodeEvent(pair, JSON.stringify(body)).entityId).toBe('u1|m9');
    const e = failure(() => decodeEvent(pair, JSON.stringify({ ...body, merchant_id: 'm|9' })));
    expect(e.code).toBe('ENTITY_ID_INVALID');
    expect(e.message).toMatch(/merchant_id/);
  });
});
