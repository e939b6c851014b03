import { describe, expect, it } from 'vitest';
import { pack } from '../../../src/stores/msgpack.ts';

describe('pack', () => {
  it('encodes the MessagePack forms the Lua scripts read', () => {
    expect(pack(['a', 'bc'])).toEqual(Buffer.from([0x92, 0xa1, 0x61, 0xa2, 0x62, 0x63]));
    expect(pack(12)).toEqual(Buffer.from([0xa2, 0x31, 0x32]));
    expect(pack(Uint8Array.from([1, 2]))).toEqual(Buffer.from([0xa2, 1, 2]));
    expect(pack('é')).toEqual(Buffer.from([0xa2, 0xc3, 0xa9]));
  });

  it('switches to wider headers for long strings, bytes and arrays', () => {
    const s = 'x'.repeat(40);
    expect(pack(s).subarray(0, 2)).toEqual(Buffer.from([0xd9, 40]));
    expect(pack('x'.repeat(300)).subarray(0, 3)).toEqual(Buffer.from([0xda, 0x01, 0x2c]));
    expect(pack(new Uint8Array(70_000)).subarray(0, 5)).toEqual(Buffer.from([0xdb, 0, 1, 0x11, 0x70]));
    const arr = pack(Array.from({ length: 20 }, () => 'a'));
    expect(arr.subarray(0, 3)).toEqual(Buffer.from([0xdc, 0, 20]));
    expect(arr.length).toBe(3 + 20 * 2);
  });
});

describe('pack with multi-byte text', () => {
  it('sizes headers by bytes, not characters, at every width boundary', () => {
    for (const n of [10, 11, 31, 32, 85, 86, 255, 256, 21_845, 21_846, 70_000]) {
      const s = 'é'.repeat(n); // 2 bytes each
      const out = pack([s]);
      const bytes = 2 * n;
      const head = bytes < 32 ? 1 : bytes < 0x100 ? 2 : bytes < 0x10000 ? 3 : 5;
      expect(out.length).toBe(1 + head + bytes);
      expect(out.subarray(1 + head).toString()).toBe(s);
    }
  });
});
