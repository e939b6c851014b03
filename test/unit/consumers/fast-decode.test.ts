import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fastDecoder } from '../../../src/consumers/fast-decode.ts';
import { decodeEvent } from '../../../src/schemas/events.ts';
import { defaultRegistryConfig } from '../../../src/schemas/default-registry.ts';
import { parseRegistry } from '../../../src/schemas/registry.ts';

const registry = parseRegistry(defaultRegistryConfig);
const source = (name: string) => registry.sources.find((s) => s.name === name)!;

const good: Record<string, unknown> = {
  event_id: 'e1',
  user_id: 'u1',
  amount: 12.5,
  merchant_id: 'm1',
  ts: 1_700_000_000_000,
  created_at: '2020-01-01',
  credit_score_bucket: 3,
  is_premium: true,
  embedding: [0.1, 0.2],
};
const odd: unknown[] = [null, '', 'x', 0, 1, -1, 1.5, true, false, [], [1, 'a'], {}, { a: 1 }, '2024-01-01T00:00:00Z', 'not a time', 2 ** 60];

describe('fastDecoder', () => {
  it('is absent for custom schemas', () => {
    expect(fastDecoder({ ...source('logins'), schema: z.object({ user_id: z.string(), ts: z.number() }) })).toBeUndefined();
  });

  it('accepts only what decodeEvent accepts, and builds the same event', () => {
    let accepted = 0;
    for (const s of registry.sources) {
      const fast = fastDecoder(s)!;
      const base = decodeEvent(s, Buffer.from(JSON.stringify(good))).fields;
      const fields = Object.keys(base);
      const values: string[] = ['null', '[]', '5', '{bad', '{"user_id":"u1","amount":1e999,"ts":1}', '{"extra":{"x":1e999},"user_id":"u1","ts":1}'];
      // Each field missing, then each field replaced by each odd value, plus unknown keys.
      for (const f of fields) {
        const { [f]: _, ...rest } = base;
        values.push(JSON.stringify(base), JSON.stringify(rest));
        for (const v of odd) values.push(JSON.stringify({ ...base, [f]: v }), JSON.stringify({ ...base, extra: v }));
      }
      for (const text of values) {
        const buf = Buffer.from(text);
        let slow: unknown;
        try {
          slow = decodeEvent(s, buf);
        } catch {
          slow = undefined;
        }
        const got = fast(buf);
        if (got === undefined) continue;
        accepted += 1;
        expect(isDeepStrictEqual(got, slow), `${s.name}: ${text}`).toBe(true);
      }
    }
    expect(accepted).toBeGreaterThan(50);
    expect(fastDecoder(source('transactions'))!(null)).toBeUndefined();
  });

  it('leaves invalid entity ids to decodeEvent, which dead-letters them as ENTITY_ID_INVALID', () => {
    const fast = fastDecoder(source('logins'))!;
    for (const id of ['a b', '{x}', 'x'.repeat(200), 'u:1', 'u#1', 'u\u0001', '']) {
      const buf = Buffer.from(JSON.stringify({ user_id: id, ts: 1 }));
      expect(fast(buf)).toBeUndefined();
      expect(() => decodeEvent(source('logins'), buf)).toThrow(expect.objectContaining({ code: id === '' ? 'EVENT_INVALID' : 'ENTITY_ID_INVALID' }));
    }
    expect(fast(Buffer.from(JSON.stringify({ user_id: 'x'.repeat(128), ts: 1 })))?.entityId).toBe('x'.repeat(128));
  });
});
