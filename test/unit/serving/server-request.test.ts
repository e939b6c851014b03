/**
 * The POST /features body: composite ids as objects of key values and an
 * optional request context are accepted and reach the reader; any other
 * shape is a 400 naming the field.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { Registry as MetricsRegistry } from 'prom-client';
import { createFeatureReader } from '../../../src/index.ts';
import { createLogger } from '../../../src/logger.ts';
import { defineConfig } from '../../../src/schemas/registry.ts';
import { parseFeaturesRequest } from '../../../src/server/request.ts';
import { createFeatureServer } from '../../../src/server/server.ts';
import { scriptedRedis } from './scripted-redis.ts';

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

const config = defineConfig({
  entities: [{ name: 'user_merchant', keys: ['user_id', 'merchant_id'] }],
  sources: [
    { name: 'tx', entity: 'user_merchant', keyFields: ['user_id', 'merchant_id'], timeField: 'ts', schema: { user_id: 'string', merchant_id: 'string', ts: 'time' } },
  ],
  features: [{ name: 'pair_count_1h', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0 }],
  onDemand: [{ name: 'amount_per_tx', entity: 'user_merchant', compute: (f, ctx) => (ctx.amount as number) / (f.pair_count_1h as number), default: -1 }],
});

async function server() {
  const redis = scriptedRedis((keys, fields) => Promise.resolve(keys.map((_, i) => [null, fields[i]!.map((f) => (f === '_updated_ms' ? String(Date.now()) : f === '_version' ? '1' : '4'))])));
  const reader = createFeatureReader({ registry: config, redis: redis.client, dynamodb: false, metrics: new MetricsRegistry(), cache: false, deadlineMs: 60_000 });
  const s = createFeatureServer({ reader, metrics: new MetricsRegistry(), logger: createLogger({ level: 'silent' }) });
  const port = await s.listen(0);
  onTestFinished(() => s.close());
  const post = async (body: unknown) => {
    const res = await fetch(`http://127.0.0.1:${port}/features`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    return { status: res.status, body: (await res.json()) as { vectors?: Array<Record<string, unknown>>; error?: { code: string; message: string } } };
  };
  return { post, sent: redis.sent };
}

describe('POST /features with key objects and a context', () => {
  it('reads pairs by key object, passes the context to on-demand functions, and answers a bad key object with a 400', async () => {
    const { post, sent } = await server();
    const ok = await post({ entity: 'user_merchant', ids: [{ user_id: 'u1', merchant_id: 'm9' }, 'u2|m1'], context: { amount: 100 } });
    expect(ok.status).toBe(200);
    expect(ok.body.vectors!.map((v) => [v.entity_id, v.features])).toEqual([
      ['u1|m9', { pair_count_1h: 4, amount_per_tx: 25 }],
      ['u2|m1', { pair_count_1h: 4, amount_per_tx: 25 }],
    ]);
    const missing = await post({ entity: 'user_merchant', ids: [{ user_id: 'u1' }] });
    expect(missing).toMatchObject({ status: 400, body: { error: { code: 'ENTITY_ID_INVALID', message: expect.stringContaining('merchant_id') } } });
    const bar = await post({ entity: 'user_merchant', ids: [{ user_id: 'u|1', merchant_id: 'm1' }] });
    expect(bar).toMatchObject({ status: 400, body: { error: { code: 'ENTITY_ID_INVALID' } } });
    const context = await post({ entity: 'user_merchant', ids: ['u1|m9'], context: { amount: [100] } });
    expect(context).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST', message: expect.stringContaining('"context"') } } });
    expect(sent).toHaveLength(1);
  });
});
