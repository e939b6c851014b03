/**
 * A minimal MessagePack encoder for Lua script arguments: one packed argument
 * per script call instead of dozens costs ioredis far less per call, and Redis
 * unpacks it natively (cmsgpack). Only what the scripts need: arrays and
 * strings; bytes go out as str too, since Redis' cmsgpack predates the bin
 * types and Lua strings are byte strings anyway. Numbers are sent as decimal
 * strings, which keeps integers above 2^31 exact on both sides.
 */
export type Packable = string | number | Uint8Array | readonly Packable[];

/** Reused between calls (grown on demand) so packing does one exact-size allocation per call. */
let scratch = Buffer.allocUnsafe(64 * 1024);

function ensure(end: number): void {
  if (end <= scratch.length) return;
  const bigger = Buffer.allocUnsafe(Math.max(end, scratch.length * 2));
  scratch.copy(bigger);
  scratch = bigger;
}

function headerSize(n: number, tinyMax: number, has8: boolean): number {
  return n < tinyMax ? 1 : has8 && n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

function header(at: number, n: number, tiny: number, tinyMax: number, t8: number | undefined, t16: number, t32: number): number {
  if (n < tinyMax) return scratch.writeUInt8(tiny | n, at);
  if (t8 !== undefined && n < 0x100) return scratch.writeUInt8(n, scratch.writeUInt8(t8, at));
  if (n < 0x10000) return scratch.writeUInt16BE(n, scratch.writeUInt8(t16, at));
  return scratch.writeUInt32BE(n, scratch.writeUInt8(t32, at));
}

function writeStr(at: number, v: string): number {
  // Write the bytes after room for the widest header the length could need,
  // then slide them back when the real byte count needs a narrower one.
  const reserve = headerSize(v.length * 3, 32, true);
  ensure(at + reserve + v.length * 3);
  const n = scratch.write(v, at + reserve);
  const size = headerSize(n, 32, true);
  if (size < reserve) scratch.copyWithin(at + size, at + reserve, at + reserve + n);
  header(at, n, 0xa0, 32, 0xd9, 0xda, 0xdb);
  return at + size + n;
}

/** Short ASCII strings byte by byte: cheaper than a native utf8 write for the many small names and numbers. */
function writeShortAscii(at: number, v: string): number {
  ensure(at + 1 + v.length);
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c >= 0x80) return writeStr(at, v);
    scratch[at + 1 + i] = c;
  }
  scratch[at] = 0xa0 | v.length;
  return at + 1 + v.length;
}

function write(at: number, v: Packable): number {
  if (typeof v === 'number') v = String(v);
  if (typeof v === 'string') return v.length < 32 ? writeShortAscii(at, v) : writeStr(at, v);
  if (v instanceof Uint8Array) {
    ensure(at + 5 + v.length);
    const start = header(at, v.length, 0xa0, 32, 0xd9, 0xda, 0xdb);
    scratch.set(v, start);
    return start + v.length;
  }
  ensure(at + 5);
  let pos = header(at, v.length, 0x90, 16, undefined, 0xdc, 0xdd);
  for (const item of v) pos = write(pos, item);
  return pos;
}

export function pack(value: Packable): Buffer {
  const end = write(0, value);
  return Buffer.from(scratch.subarray(0, end));
}
