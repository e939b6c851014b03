import { describe, expect, it } from 'vitest';
import { DecodeMemo } from '../../../src/serving/decode-memo.ts';
import type { StoredVector } from '../../../src/serving/decode.ts';
import type { EntityPlan } from '../../../src/serving/plan.ts';

const stored: StoredVector = { values: [1], defaulted: ['b'], source: 'redis', updatedMs: 5, version: 1 };
// The memo only tells plans apart by identity.
const planA = {} as EntityPlan;
const planB = {} as EntityPlan;

describe('DecodeMemo', () => {
  it('hands back the kept vector for the same bytes, adding its counts each time', () => {
    const memo = new DecodeMemo(10);
    const key = memo.key(planA, 'u1');
    memo.keep(key, [Buffer.from('abc'), Buffer.from('de')], 0, 2, stored, 1, 2);
    const counts = { missing: 0, corrupt: 0 };

    expect(memo.reuse(key, [Buffer.from('abc'), Buffer.from('de')], 0, 2, counts)).toBe(stored);
    expect(memo.reuse(key, [Buffer.from('abc'), Buffer.from('de')], 0, 2, counts)).toBe(stored);
    expect(counts).toEqual({ missing: 2, corrupt: 4 });
  });

  it('misses when any blob differs or is absent, and for another plan', () => {
    const memo = new DecodeMemo(10);
    const key = memo.key(planA, 'u1');
    memo.keep(key, [Buffer.from('abc')], 0, 1, stored, 0, 0);
    const counts = { missing: 0, corrupt: 0 };

    expect(memo.reuse(key, [Buffer.from('abd')], 0, 1, counts)).toBeUndefined();
    expect(memo.reuse(key, [null], 0, 1, counts)).toBeUndefined();
    expect(memo.reuse(memo.key(planB, 'u1'), [Buffer.from('abc')], 0, 1, counts)).toBeUndefined();
    expect(memo.key(planA, 'u1')).toBe(key);
  });

  it('keeps its own copy of the bytes, and nothing when a group is not a blob', () => {
    const memo = new DecodeMemo(10);
    const reply = Buffer.from('abc');
    const key = memo.key(planA, 'u1');
    memo.keep(key, [reply], 0, 1, stored, 0, 0);
    reply[0] = 0x7a;
    memo.keep(memo.key(planA, 'u2'), [Buffer.from('x'), new Error('WRONGTYPE')], 0, 2, stored, 0, 0);
    const counts = { missing: 0, corrupt: 0 };

    expect(memo.reuse(key, [Buffer.from('abc')], 0, 1, counts)).toBe(stored);
    expect(memo.reuse(memo.key(planA, 'u2'), [Buffer.from('x'), new Error('WRONGTYPE')], 0, 2, counts)).toBeUndefined();
  });
});
