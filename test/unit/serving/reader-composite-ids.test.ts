/**
 * Composite entity ids in get/getMany: an object of key values (typed from
 * the registry) or the `u1|m9` string; a bad object is a rejected row, never
 * looked up, and throws in strict mode and in get().
 */
import { describe, expect, expectTypeOf, it, onTestFinished } from 'vitest';
import { Registry as MetricsRegistry } from 'prom-client';
import { createFeatureReader, EntityIdError, type FeatureReader } from '../../../src/index.ts';
import { defineConfig } from '../../../src/schemas/registry.ts';
import { scriptedRedis, type Answer } from './scripted-redis.ts';

const schema = { user_id: 'string', merchant_id: 'string', amount: 'number', ts: 'time' } as const;
const config = defineConfig({
  entities: [{ name: 'user' }, { name: 'user_merchant', keys: ['user_id', 'merchant_id'] }],
  sources: [
    { name: 'tx', topic: 'transactions', entity: 'user', keyField: 'user_id', timeField: 'ts', schema },
    { name: 'tx_pair', topic: 'transactions', entity: 'user_merchant', keyFields: ['user_id', 'merchant_id'], timeField: 'ts', schema },
  ],
  features: [
    { name: 'user_count_1h', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0 },
    { name: 'pair_count_1h', source: 'tx_pair', op: 'count', window: '1h', type: 'int', default: 0 },
  ],
});

/** Every hash holds count = the number of characters of its key (so each id reads back something of its own). */
const answer: Answer = (keys, fields) =>
  Promise.resolve(keys.map((key, i) => [null, fields[i]!.map((f) => (f === '_version' ? '1' : f === '_updated_ms' ? String(Date.now()) : String(key.length)))]));
const countOf = (id: string) => `user_merchant:${id}:features`.length;

function reader(cache = false) {
  const redis = scriptedRedis(answer);
  const r = createFeatureReader({ registry: config, redis: redis.client, dynamodb: false, metrics: new MetricsRegistry(), cache: cache && { ttlMs: 60_000 }, deadlineMs: 60_000 });
  onTestFinished(() => r.close());
  return { reader: r, sent: redis.sent };
}

describe('composite entity ids', () => {
  it('reads a pair given as its key values or as the | string, and names it by the string', async () => {
    const { reader: r, sent } = reader();
    // An event makes a key object too: other fields are ignored.
    const event = { merchant_id: 'm3', user_id: 'u3', amount: 5 };
    const rows = await r.getMany('user_merchant', [{ user_id: 'u1', merchant_id: 'm9' }, 'u2|m1', event, { user_id: 7, merchant_id: 'm1' }]);
    expect(rows.map((v) => [v.entityId, v.source, v.features.pair_count_1h])).toEqual([
      ['u1|m9', 'redis', countOf('u1|m9')],
      ['u2|m1', 'redis', countOf('u2|m1')],
      ['u3|m3', 'redis', countOf('u3|m3')],
      ['7|m1', 'redis', countOf('7|m1')],
    ]);
    expect(sent).toEqual([['user_merchant:u1|m9:features', 'user_merchant:u2|m1:features', 'user_merchant:u3|m3:features', 'user_merchant:7|m1:features']]);
    expect(await r.get('user_merchant', { user_id: 'u1', merchant_id: 'm9' })).toMatchObject({ entityId: 'u1|m9', features: { pair_count_1h: countOf('u1|m9') } });
  });

  it('turns a key object missing a key, or with | in a value, into a rejected row that is never looked up', async () => {
    const { reader: r, sent } = reader();
    const bad = [{ user_id: 'u1' }, { user_id: 'u|1', merchant_id: 'm1' }, { user_id: '', merchant_id: 'm1' }, ['u1', 'm1'], 42];
    const rows = await r.getMany('user_merchant', [{ user_id: 'u9', merchant_id: 'm9' }, ...(bad as never[])]);
    expect(rows.map((v) => [v.entityId, v.source])).toEqual([
      ['u9|m9', 'redis'],
      ['{"user_id":"u1"}', 'invalid'],
      ['{"user_id":"u|1","merchant_id":"m1"}', 'invalid'],
      ['{"user_id":"","merchant_id":"m1"}', 'invalid'],
      ['["u1","m1"]', 'invalid'],
      ['42', 'invalid'],
    ]);
    expect(rows[1]).toMatchObject({ features: {}, defaulted: [], error: { code: 'ENTITY_ID_INVALID', message: expect.stringContaining('merchant_id') } });
    expect(rows[2]!.error?.message).toContain('"|"');
    expect(sent).toEqual([['user_merchant:u9|m9:features']]);

    await expect(r.getMany('user_merchant', [{ user_id: 'u9', merchant_id: 'm9' }, { user_id: 'u1' } as never], { strict: true })).rejects.toThrow(EntityIdError);
    await expect(r.get('user_merchant', { user_id: 'u1|x', merchant_id: 'm' })).rejects.toThrow(EntityIdError);
    expect(sent).toHaveLength(1);
  });

  it('refuses a key object for a single-key entity', async () => {
    const { reader: r, sent } = reader();
    const [row] = await r.getMany('user', [{ user_id: 'u1' } as never]);
    expect(row).toMatchObject({ source: 'invalid', error: { code: 'ENTITY_ID_INVALID', message: expect.stringContaining('single key') } });
    await expect(r.get('user', { user_id: 'u1' } as never)).rejects.toThrow(EntityIdError);
    expect(sent).toEqual([]);
  });

  it('names an unknown entity type before judging its ids', async () => {
    const { reader: r } = reader();
    const unknown = { code: 'NOT_FOUND', message: expect.stringContaining('unknown entity type "pair"') };
    await expect(r.getMany('pair' as never, [{ user_id: 'u1', merchant_id: 'm9' }] as never, { strict: true })).rejects.toMatchObject(unknown);
    await expect(r.getMany('pair' as never, [{ user_id: 'u1' }] as never)).rejects.toMatchObject(unknown);
    await expect(r.get('pair' as never, { user_id: 'u1' } as never)).rejects.toMatchObject(unknown);
  });

  it('caches a pair under its string id, whichever form asked for it', async () => {
    const { reader: r, sent } = reader(true);
    expect((await r.get('user_merchant', { user_id: 'u1', merchant_id: 'm9' })).source).toBe('redis');
    expect((await r.get('user_merchant', 'u1|m9')).source).toBe('cache');
    expect((await r.getMany('user_merchant', [{ user_id: 'u1', merchant_id: 'm9' }]))[0]!.source).toBe('cache');
    expect(sent).toHaveLength(1);
  });

  it('types the key object from the registry', () => {
    const { reader: r } = reader();
    expectTypeOf(r.getMany<'user_merchant'>).parameter(1).toEqualTypeOf<ReadonlyArray<string | { readonly user_id: string | number; readonly merchant_id: string | number }>>();
    expectTypeOf(r.get<'user'>).parameter(1).toEqualTypeOf<string>();
    // A typed reader still goes where a plain one is expected (the HTTP server takes one).
    expectTypeOf(r).toExtend<FeatureReader>();
    if (Date.now() < 0) {
      // @ts-expect-error a key is missing
      void r.get('user_merchant', { user_id: 'u1' });
      // @ts-expect-error a single-key entity takes its id as a string
      void r.get('user', { user_id: 'u1' });
    }
  });
});
