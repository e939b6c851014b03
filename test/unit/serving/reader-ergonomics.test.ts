/**
 * getMany with invalid ids (a rejected row each, never looked up; `strict`
 * throws) and with a feature subset (only the groups holding it are read).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { Registry as MetricsRegistry } from 'prom-client';
import { ConfigError, createFeatureReader, EntityIdError } from '../../../src/index.ts';
import { defineConfig } from '../../../src/schemas/registry.ts';
import { scriptedRedis, type Answer } from './scripted-redis.ts';

const tx = { entity: 'user', keyField: 'user_id', timeField: 'ts' } as const;
const config = defineConfig({
  entities: [{ name: 'user' }],
  sources: [{ name: 'tx', ...tx, schema: { user_id: 'string', amount: 'number', created: 'time', ts: 'time' } }],
  features: [
    { name: 'count_1h', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0 },
    { name: 'sum_1h', source: 'tx', op: 'sum', field: 'amount', window: '1h', type: 'float', default: 0 },
    { name: 'created_at', source: 'tx', op: 'last', field: 'created', type: 'int', default: 0, freshness: '90d' },
  ],
  onDemand: [
    { name: 'age_days', entity: 'user', kind: 'time_since', input: 'created_at', unit: 'd', default: -1 },
    { name: 'hour', entity: 'user', kind: 'hour_of_day', default: 0 },
  ],
  groups: [
    { name: 'velocity', features: ['count_1h', 'sum_1h'] },
    { name: 'profile', features: ['created_at'] },
  ],
});
const NOW = Date.UTC(2026, 5, 1, 10);

const stored: Record<string, string> = { _version: '1', _updated_ms: String(NOW), count_1h: '4', sum_1h: '2.5', created_at: String(NOW - 3 * 86_400_000) };
/** Answers each HMGET with the fields it asks for. */
const answer: Answer = (keys, fields) => Promise.resolve(keys.map((_, i) => [null, fields[i]!.map((f) => stored[f] ?? null)]));

function reader() {
  const redis = scriptedRedis(answer);
  const r = createFeatureReader({ registry: config, redis: redis.client, dynamodb: false, metrics: new MetricsRegistry(), cache: false, deadlineMs: 60_000 });
  onTestFinished(() => r.close());
  return { reader: r, sent: redis.sent };
}

describe('getMany ergonomics', () => {
  it('answers an invalid id with a rejected row, never looked up, and serves the rest', async () => {
    const { reader: r, sent } = reader();
    const rows = await r.getMany('user', ['u1', 'bad id', 'u2', '{u3}']);
    expect(rows.map((v) => [v.entityId, v.source])).toEqual([
      ['u1', 'redis'],
      ['bad id', 'invalid'],
      ['u2', 'redis'],
      ['{u3}', 'invalid'],
    ]);
    expect(rows[1]).toMatchObject({ features: {}, defaulted: [], error: { code: 'ENTITY_ID_INVALID', message: expect.stringContaining('"bad id"') } });
    expect(rows[0]!.error).toBeUndefined();
    expect(sent.flat().some((k) => k.includes('bad id') || k.includes('u3'))).toBe(false);

    await expect(r.getMany('user', ['u1', 'bad id'], { strict: true })).rejects.toThrow(EntityIdError);
    await expect(r.get('user', 'bad id')).rejects.toThrow(EntityIdError);
  });

  it('reads only the groups a feature subset needs, and returns just those features (plus on-demand inputs)', async () => {
    const { reader: r, sent } = reader();
    const [v] = await r.getMany('user', ['u1'], { features: ['sum_1h'], requestTimeMs: NOW });
    expect(sent).toEqual([['user:u1:velocity']]);
    expect(v!.features).toEqual({ sum_1h: 2.5 });

    const [w] = await r.getMany('user', ['u1'], { features: ['age_days', 'hour'], requestTimeMs: NOW });
    expect(sent[1]).toEqual(['user:u1:profile']);
    expect(w!.features).toEqual({ created_at: NOW - 3 * 86_400_000, age_days: 3, hour: 10 });

    await expect(r.getMany('user', ['u1'], { features: ['nope'] })).rejects.toThrow(ConfigError);
    await expect(r.getMany('user', ['u1'], { features: ['nope'] })).rejects.toThrow(/"nope" is not a feature of entity "user"/);
  });
});
