import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arrivalAt, dedupSize, eventKeyHash, hashAt, newDedup, prune, repeated, tick } from '../../../src/aggregations/dedup.ts';
import type { Slot } from '../../../src/aggregations/state.ts';

const HORIZON = 100;
const op = fc.oneof(
  { weight: 20, arbitrary: fc.record({ kind: fc.constant('see' as const), id: fc.nat(200), dt: fc.integer({ min: -30, max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('prune' as const) }) },
);

describe('de-duplication memory', () => {
  it('behaves like a Map of hash -> arrival judged against the newest arrival, through scans, index growth and prunes', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 60, maxLength: 300, size: 'max' }), (ops) => {
        // The memory's slot: growth moves it to a new array there.
        const slots: Slot[] = [newDedup()];
        const ref = new Map<number, number>();
        let clock = -Infinity;
        let now = 1_000;
        for (const o of ops) {
          if (o.kind === 'prune') {
            prune(slots, 0, HORIZON);
            continue;
          }
          // Arrivals wander a little backwards now and then, like record timestamps across producers.
          now += o.dt;
          const h = eventKeyHash('tx', `event-${o.id}`);
          clock = Math.max(clock, now);
          const first = ref.get(h);
          const isRepeated = first !== undefined && clock - first < HORIZON;
          if (!isRepeated) ref.set(h, now);
          tick(slots[0] as number[], now);
          expect(repeated(slots, 0, h, now, HORIZON)).toBe(isRepeated);
        }
        prune(slots, 0, HORIZON);
        const memory = slots[0] as number[];
        const live = [...ref].filter(([, a]) => clock - a < HORIZON);
        expect(new Map(Array.from({ length: dedupSize(memory) }, (_, i) => [hashAt(memory, i), arrivalAt(memory, i)]))).toEqual(new Map(live));
      }),
      // No shrinking: long op lists shrink slowly, and the first counterexample is readable enough.
      { numRuns: 100, endOnFailure: true },
    );
  });

  it('keeps its index when growth or a prune moves the memory to a new array in its slot', () => {
    const slots: Slot[] = [newDedup()];
    const first = slots[0];
    const see = (id: number, at: number) => {
      tick(slots[0] as number[], at);
      return repeated(slots, 0, eventKeyHash('tx', `e${id}`), at, HORIZON);
    };
    // 40 ids: past the scan limit (16), so indexed, and grown by doubling more than once.
    for (let i = 0; i < 40; i++) expect(see(i, 1_000 + i)).toBe(false);
    expect(slots[0]).not.toBe(first);
    for (let i = 0; i < 40; i++) expect(see(i, 1_040)).toBe(true);
    // The clock moves so that all but the last 2 expire (and the new one): the prune cuts the array and drops the index.
    expect(see(100, 1_037 + HORIZON)).toBe(false);
    const grown = slots[0];
    prune(slots, 0, HORIZON);
    expect(slots[0]).not.toBe(grown);
    expect(dedupSize(slots[0] as number[])).toBe(3);
    for (const i of [38, 39, 100]) expect(see(i, 1_037 + HORIZON)).toBe(true);
    expect(see(37, 1_037 + HORIZON)).toBe(false);
    // Growing past the scan limit again indexes the new array.
    for (let i = 200; i < 240; i++) expect(see(i, 1_140)).toBe(false);
    for (let i = 200; i < 240; i++) expect(see(i, 1_140)).toBe(true);
  });

  it('hashes (source, id) to 52 bits, telling sources and split points apart', () => {
    const seen = new Set<number>();
    let outOfRange = 0;
    let highBits = 0;
    for (let i = 0; i < 200_000; i++) {
      const h = eventKeyHash('transactions', `${i}`);
      if (!Number.isSafeInteger(h) || h < 0 || h >= 2 ** 52) outOfRange++;
      if (h >= 2 ** 51) highBits++;
      seen.add(h);
    }
    expect(outOfRange).toBe(0);
    expect(seen.size).toBe(200_000);
    // The top bit is set about half the time: the high lane is mixed too.
    expect(Math.abs(highBits / 200_000 - 0.5)).toBeLessThan(0.01);
    expect(eventKeyHash('ab', 'c')).not.toBe(eventKeyHash('a', 'bc'));
    expect(eventKeyHash('tx', 'e1')).not.toBe(eventKeyHash('logins', 'e1'));
  });
});
