import { describe, expect, it } from 'vitest';
import { tagsForMasters } from '../../../src/consumers/recovery-marks.ts';
import { keySlot } from '../../../src/serving/slot.ts';
import { itemToKeyspaceRecord, keyspaceRecordToItem } from '../../../src/stores/dynamo-item.ts';
import { Keys } from '../../../src/stores/keys.ts';

describe('recovery marks', () => {
  it('picks one tag per master that lands in a slot the master serves', () => {
    const masters = new Map<string, Array<[number, number]>>([
      ['a', [[0, 5460]]],
      ['b', [[5461, 10922]]],
      ['c', [[10923, 16383]]],
    ]);
    const tags = tagsForMasters(masters);
    expect(tags).toHaveLength(3);
    [...masters.values()].forEach((ranges, i) => {
      const slot = keySlot(new Keys({ prefix: 'p:' }).recoveryMark('g', 't', 0, tags[i]));
      expect(ranges.some(([s, e]) => slot >= s && slot <= e)).toBe(true);
    });
  });

  it('keeps mark keys apart per group, topic and partition, one per master', () => {
    const keys = new Keys({ prefix: 'p:' });
    expect(keys.recoveryMark('g', 't', 1)).toBe('p:fs:mark:g:t:1');
    expect(keys.recoveryMark('g', 't', 1, 'n3')).toBe('p:fs:mark:{n3}:g:t:1');
  });
});

describe('durable keyspace record', () => {
  it('round-trips through its DynamoDB item and is never taken for an entity', () => {
    const keys = new Keys({ prefix: 'p:' });
    const item = keyspaceRecordToItem(keys, { active: 3, layouts: new Map([[2, 'abc'], [3, 'def']]) }, 1);
    expect(itemToKeyspaceRecord(item)).toEqual({ active: 3, layouts: new Map([[2, 'abc'], [3, 'def']]) });
    expect(keys.parseDynamoPk(keys.dynamoKeyspacePk())).toBeUndefined();
    expect(itemToKeyspaceRecord(undefined)).toBeUndefined();
    expect(itemToKeyspaceRecord({ pk: { S: 'x' }, active: { N: '0' } })).toBeUndefined();
  });
});
