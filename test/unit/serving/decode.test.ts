import { describe, expect, it } from 'vitest';
import { defineConfig, parseRegistry } from '../../../src/schemas/registry.ts';
import { defaultVector, emptyCounts, fromDynamo, fromRedis } from '../../../src/serving/decode.ts';
import { planEntities } from '../../../src/serving/plan.ts';
import { ReplyError } from 'ioredis';

const registry = parseRegistry(
  defineConfig({
    entities: [{ name: 'user' }],
    sources: [{ name: 'tx', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: { user_id: 'string', amount: 'number', ts: 'time' } }],
    features: [
      { name: 'count', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0 },
      { name: 'sum', source: 'tx', op: 'sum', field: 'amount', window: '1h', type: 'float', default: -1 },
      { name: 'total', source: 'tx', op: 'count', window: '1d', type: 'int', default: 0 },
    ],
    // Groups list features out of registry order, so positions are remapped.
    groups: [
      { name: 'a', features: ['sum', 'count'] },
      { name: 'b', features: ['total'] },
    ],
  }),
);
const plan = planEntities(registry).get('user')!;

describe('fromRedis', () => {
  it('decodes each group row into registry order, with the oldest write time and the highest version', () => {
    const counts = emptyCounts();
    const v = fromRedis(plan, [['3', '2000', '1.5', '7'], ['5', '1000', '9']], 0, counts, 'fields')!;
    expect(plan.featureNames).toEqual(['count', 'sum', 'total']);
    expect(v).toEqual({ values: [7, 1.5, 9], defaulted: [], source: 'redis', updatedMs: 1000, version: 5 });
    expect(counts).toEqual({ missing: 0, corrupt: 0, unavailable: 0 });
  });

  it('defaults missing and corrupt values and counts each kind', () => {
    const counts = emptyCounts();
    const v = fromRedis(plan, [['1', '2000', 'x', null], new ReplyError('WRONGTYPE Operation against a key')], 0, counts, 'fields')!;
    expect(v.values).toEqual([0, -1, 0]);
    expect(v.defaulted).toEqual(['sum', 'count', 'total']);
    expect(counts).toEqual({ missing: 1, corrupt: 2, unavailable: 0 });
  });

  it('is a miss (undefined, nothing counted) when no group hash exists', () => {
    const counts = emptyCounts();
    expect(fromRedis(plan, [[null, null, null, null], [null, null, null]], 0, counts, 'fields')).toBeUndefined();
    expect(counts).toEqual({ missing: 0, corrupt: 0, unavailable: 0 });
    expect(defaultVector(plan, counts, 'unavailable')).toMatchObject({ values: [0, -1, 0], source: 'default' });
    expect(counts.unavailable).toBe(3);
  });
});

describe('fromDynamo', () => {
  it('decodes present attributes, defaults the rest, and ignores expired items', () => {
    const counts = emptyCounts();
    const item = { pk: { S: 'user#u1' }, count: { N: '4' }, sum: { S: 'bad' }, version: { N: '2' }, updated_ms: { N: '10' }, expires_at: { N: '100' } };
    expect(fromDynamo(plan, item, 50_000, counts)).toEqual({ values: [4, -1, 0], defaulted: ['sum', 'total'], source: 'dynamodb', updatedMs: 10, version: 2 });
    expect(counts).toEqual({ missing: 1, corrupt: 1, unavailable: 0 });
    expect(fromDynamo(plan, item, 100_001, counts)).toBeUndefined();
    expect(fromDynamo(plan, undefined, 0, counts)).toBeUndefined();
  });
});
