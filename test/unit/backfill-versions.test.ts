import { describe, expect, it } from 'vitest';
import { handedOver, type Handover, type VersionView } from '../../src/consumers/backfill/handover.ts';
import { decideBatch, decideTimers } from '../../src/consumers/backfill/versions.ts';

const OLD = 'fp-old';
const NEW = 'fp-new';

function view(active: number, layouts: Record<number, string>, handover?: Partial<Handover>): VersionView {
  return {
    active,
    layouts: new Map(Object.entries(layouts).map(([v, fp]) => [Number(v), fp])),
    handover: handover && { version: 2, from: 1, positions: new Map(), switched: new Set(), ...handover },
    backfilling: undefined,
  };
}

describe('decideBatch', () => {
  it('writes the active version when no handover runs, registering an unrecorded one', () => {
    expect(decideBatch(view(1, {}), OLD, 't', 0, 5)).toEqual({ version: 1, register: true });
    expect(decideBatch(view(1, { 1: OLD }), OLD, 't', 0, 5)).toEqual({ version: 1, register: false });
    expect(decideBatch(view(2, { 1: OLD, 2: NEW }), OLD, 't', 0, 5)).toHaveProperty('wait');
  });

  it('keeps the old version before the switch and makes a new-registry worker wait', () => {
    const before = view(1, { 1: OLD, 2: NEW }, {});
    expect(decideBatch(before, OLD, 't', 0, 5)).toMatchObject({ version: 1 });
    expect(decideBatch(before, NEW, 't', 0, 5)).toHaveProperty('wait');
    // An unrecorded old version is writable for the old registry only.
    expect(decideBatch(view(1, { 2: NEW }, {}), OLD, 't', 0, 5)).toMatchObject({ version: 1 });
    expect(decideBatch(view(1, { 2: NEW }, {}), NEW, 't', 0, 5)).toHaveProperty('wait');
  });

  it('after the switch writes N only where N is contiguous: behind the backfill or already switched', () => {
    const after = view(2, { 1: OLD, 2: NEW }, { positions: new Map([['t:0', 100]]), switched: new Set(['t:1']) });
    expect(decideBatch(after, NEW, 't', 0, 100)).toMatchObject({ version: 2 });
    expect(decideBatch(after, NEW, 't', 0, 101)).toHaveProperty('wait');
    expect(decideBatch(after, NEW, 't', 1, 9_999)).toMatchObject({ version: 2 });
    expect(decideBatch(after, OLD, 't', 0, 50)).toMatchObject({ version: 1 });
  });

  it('lets a same-registry worker follow the pointer, falling back to the old version while ahead of the backfill', () => {
    const same = view(2, { 1: OLD, 2: OLD }, { positions: new Map([['t:0', 100]]) });
    expect(decideBatch(same, OLD, 't', 0, 100)).toMatchObject({ version: 2 });
    expect(decideBatch(same, OLD, 't', 0, 101)).toMatchObject({ version: 1 });
    expect(decideBatch(view(1, { 1: OLD, 2: OLD }, {}), OLD, 't', 0, 5)).toMatchObject({ version: 1 });
  });
});

describe('decideTimers', () => {
  it('ticks the version the worker can write', () => {
    expect(decideTimers(view(1, {}), OLD)).toBe(1);
    expect(decideTimers(view(2, { 1: OLD, 2: NEW }, {}), OLD)).toBe(1);
    expect(decideTimers(view(2, { 1: OLD, 2: NEW }, {}), NEW)).toBe(2);
    expect(decideTimers(view(1, { 1: OLD, 2: NEW }, {}), NEW)).toBeUndefined();
  });
});

describe('handedOver', () => {
  const h = (positions: Record<string, number>, switched: string[] = []): Handover => ({
    version: 2,
    from: 1,
    positions: new Map(Object.entries(positions)),
    switched: new Set(switched),
  });

  it('counts a partition a live worker switched, wherever the group is', () => {
    expect(handedOver(h({ 't:0': 10 }, ['t:0']), 't:0', 500, 900)).toBe(true);
  });

  it('counts an idle partition only with the live group at its end and within the published position', () => {
    expect(handedOver(h({ 't:0': 100 }), 't:0', 100, 100)).toBe(true);
    expect(handedOver(h({ 't:0': 120 }), 't:0', 100, 100)).toBe(true);
    // Never committed, empty partition, position published at prepare.
    expect(handedOver(h({ 't:0': 0 }), 't:0', -1, 0)).toBe(true);
  });

  it('waits while a live batch may be in flight: messages past the committed offset', () => {
    expect(handedOver(h({ 't:0': 200 }), 't:0', 100, 101)).toBe(false);
  });

  it('waits while the next live batch would start past what the live workers see of N', () => {
    // The backfill may have applied further locally; the live workers decide from the published position.
    expect(handedOver(h({ 't:0': 99 }), 't:0', 100, 100)).toBe(false);
    expect(handedOver(h({}), 't:0', 100, 100)).toBe(false);
  });
});
