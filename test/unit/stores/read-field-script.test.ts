import { describe, expect, it } from 'vitest';
import { parseReadField } from '../../../src/stores/read-field-script.ts';

/** What lua/read-field-n.lua answers: u32 LE length + bytes per key; 0xFFFFFFFF absent, 0xFFFFFFFE wrong type. */
function reply(parts: Array<string | null | 'WRONGTYPE'>): Buffer {
  return Buffer.concat(
    parts.map((p) => {
      const len = Buffer.alloc(4);
      if (p === null) return (len.writeUInt32LE(0xffffffff), len);
      if (p === 'WRONGTYPE') return (len.writeUInt32LE(0xfffffffe), len);
      len.writeUInt32LE(Buffer.byteLength(p));
      return Buffer.concat([len, Buffer.from(p)]);
    }),
  );
}

describe('read-field script reply', () => {
  it('splits values, absent keys and wrong-type keys in key order', () => {
    const out = parseReadField(reply(['ab', null, 'WRONGTYPE', '', 'xyz']), 5);
    expect(out.map((v) => (v instanceof Error ? 'error' : v === null ? null : v.toString()))).toEqual(['ab', null, 'error', '', 'xyz']);
    expect((out[2] as Error).message).toMatch(/^WRONGTYPE/);
  });

  it('refuses a reply that does not fit the key count', () => {
    const good = reply(['ab', 'cd']);
    expect(() => parseReadField(good, 3)).toThrow(/ends after 2 of 3/);
    expect(() => parseReadField(good.subarray(0, good.length - 1), 2)).toThrow(/inside key 1/);
    expect(() => parseReadField(good, 1)).toThrow(/bytes after 1 keys/);
  });
});
