import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DedupMemory } from '../../../src/aggregations/dedup.ts';

const op = fc.oneof(
  { weight: 20, arbitrary: fc.record({ kind: fc.constant('see' as const), id: fc.nat(200), t: fc.nat(1_000), from: fc.nat(300) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('prune' as const), from: fc.nat(300) }) },
);

describe('DedupMemory', () => {
  it('behaves like a Map of id -> time, in insertion order, through scans, index growth and prunes', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 60, maxLength: 300, size: 'max' }), (ops) => {
        const memory = new DedupMemory();
        const ref = new Map<string, number>();
        for (const o of ops) {
          if (o.kind === 'prune') {
            memory.prune(o.from);
            for (const [id, t] of ref) if (t < o.from) ref.delete(id);
            continue;
          }
          const id = `event-${o.id}`;
          const prev = ref.get(id);
          const repeated = prev !== undefined && prev >= o.from;
          if (!repeated && o.t >= o.from) ref.set(id, o.t);
          expect(memory.repeated(id, o.t, o.from)).toBe(repeated);
        }
        expect(memory.size).toBe(ref.size);
        expect(memory.ids).toEqual([...ref.keys()]);
        expect(memory.times).toEqual([...ref.values()]);
      }),
      // No shrinking: long op lists shrink slowly, and the first counterexample is readable enough.
      { numRuns: 100, endOnFailure: true },
    );
  });
});
