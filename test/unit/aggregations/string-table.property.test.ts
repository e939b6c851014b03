/**
 * The state's string table numbers every string once, in order of first
 * use, however the distinct block is taken: its bytes and references equal
 * those of a plain first-use Map (the layout serialize.ts documents).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteWriter } from '../../../src/aggregations/bytes.ts';
import { StringTable } from '../../../src/aggregations/string-table.ts';

type Op = { keys: string[] } | { one: string };

function firstUse(ops: Op[]): Map<string, number> {
  const numbers = new Map<string, number>();
  for (const op of ops) for (const s of 'one' in op ? [op.one] : op.keys) if (!numbers.has(s)) numbers.set(s, numbers.size);
  return numbers;
}

function written(strings: Iterable<string>, refs: number[]): Buffer {
  const w = new ByteWriter();
  const list = [...strings];
  w.varint(list.length);
  for (const s of list) w.string(s);
  for (const n of refs) w.varint(n);
  return Buffer.from(w.finish());
}

const str = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'ü');
const op: fc.Arbitrary<Op> = fc.oneof(
  str.map((one) => ({ one })),
  fc.uniqueArray(str, { maxLength: 6 }).map((keys) => ({ keys })),
);

describe('StringTable', () => {
  it('writes the strings and numbers a first-use Map would', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 8 }), (ops) => {
        const numbers = firstUse(ops);
        const t = new StringTable();
        const maps = ops.map((o) => ('one' in o ? undefined : new Map(o.keys.map((k) => [k, 0]))));
        ops.forEach((o, i) => ('one' in o ? t.add(o.one) : t.addKeys(maps[i]!)));
        const w = new ByteWriter();
        t.write(w);
        // What serializeState refers to: the block by position, every other string by ref().
        const expected: number[] = [];
        maps.forEach((m, i) => {
          const o = ops[i]!;
          if (m === undefined) {
            t.ref(w, (o as { one: string }).one);
            expected.push(numbers.get((o as { one: string }).one)!);
            return;
          }
          let k = t.blockStart(m);
          for (const v of m.keys()) {
            if (k < 0) t.ref(w, v);
            else w.varint(k++);
            expected.push(numbers.get(v)!);
          }
        });
        expect(Buffer.from(w.finish())).toEqual(written(numbers.keys(), expected));
      }),
      { numRuns: 2_000 },
    );
  });
});
