/** Reads back the script arguments a fake pipeline recorded (stores/msgpack.ts writes them). */
export type Unpacked = string | Unpacked[];

/** The MessagePack subset pack() writes: str and array. */
export function unpack(buf: Buffer): Unpacked {
  let at = 0;
  const len = (tinyMask: number, t8: number, t16: number, t32: number): number => {
    const b = buf[at++]!;
    if ((b & ~tinyMask) === (tinyMask === 0x1f ? 0xa0 : 0x90)) return b & tinyMask;
    if (b === t8) return buf[at++]!;
    if (b === t16) return (at += 2), buf.readUInt16BE(at - 2);
    if (b === t32) return (at += 4), buf.readUInt32BE(at - 4);
    throw new Error(`unexpected byte ${b}`);
  };
  const read = (): Unpacked => {
    const b = buf[at]!;
    if ((b & 0xf0) === 0x90 || b === 0xdc || b === 0xdd) {
      const n = len(0x0f, -1, 0xdc, 0xdd);
      return Array.from({ length: n }, read);
    }
    const n = len(0x1f, 0xd9, 0xda, 0xdb);
    at += n;
    return buf.subarray(at - n, at).toString('latin1');
  };
  return read();
}
