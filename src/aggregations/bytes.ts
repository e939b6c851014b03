/** Little binary writer/reader for state: unsigned LEB128 varints, zigzag, f64/f32 little-endian. */
import { StateCorruptError } from '../errors.ts';
import { FLOAT, MAX_DECIMALS, POW10, decimals } from './numbers.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * One scratch buffer for the writers of a whole serialization: most states
 * fit, so serializing allocates only its result. A writer created while the
 * scratch is taken (hll.ts writes registers two ways to keep the shorter)
 * gets a buffer of its own.
 */
const SCRATCH_BYTES = 4_096;
const SCRATCH_MAX = 1 << 20;
let scratch: Uint8Array | undefined = new Uint8Array(SCRATCH_BYTES);

export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;
  private readonly pooled: boolean;

  constructor() {
    this.pooled = scratch !== undefined;
    this.buf = scratch ?? new Uint8Array(512);
    scratch = undefined;
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  u32(n: number): void {
    this.ensure(4);
    const buf = this.buf;
    let p = this.pos;
    buf[p++] = n & 0xff;
    buf[p++] = (n >>> 8) & 0xff;
    buf[p++] = (n >>> 16) & 0xff;
    buf[p++] = (n >>> 24) & 0xff;
    this.pos = p;
  }

  /** Non-negative integer up to 2^53. */
  varint(n: number): void {
    this.ensure(8);
    if (n < 0x80) {
      this.buf[this.pos++] = n;
      return;
    }
    // Up to 2^31 the 32-bit shifts are exact and far cheaper than % and floor.
    if (n < 0x80000000) {
      while (n >= 0x80) {
        this.buf[this.pos++] = (n & 0x7f) | 0x80;
        n >>>= 7;
      }
      this.buf[this.pos++] = n;
      return;
    }
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }

  zigzag(n: number): void {
    this.varint(n >= 0 ? n * 2 : -n * 2 - 1);
  }

  f64(x: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, x, true);
    this.pos += 8;
  }

  f32s(v: Float32Array): void {
    this.ensure(v.length * 4);
    for (let i = 0; i < v.length; i++, this.pos += 4) this.view.setFloat32(this.pos, v[i]!, true);
  }

  string(s: string): void {
    const n = s.length;
    let ascii = true;
    for (let i = 0; i < n && ascii; i++) ascii = s.charCodeAt(i) < 0x80;
    if (ascii) {
      // UTF-8 of ASCII is one byte per code unit: no encoder, no temporary array.
      this.varint(n);
      this.ensure(n);
      const buf = this.buf;
      for (let i = 0; i < n; i++) buf[this.pos++] = s.charCodeAt(i);
      return;
    }
    const bytes = encoder.encode(s);
    this.varint(bytes.length);
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** `units / 10^scale` as one varint (scale 0..6), or FLOAT then a float64. */
  scaled(units: number, scale: number): void {
    if (scale === FLOAT) {
      this.varint(FLOAT);
      this.f64(units);
    } else this.varint((units >= 0 ? units * 2 : -units * 2 - 1) * 8 + scale);
  }

  /** A finite number: scaled when a few decimals reproduce it exactly. */
  num(v: number): void {
    const d = decimals(v);
    this.scaled(d === FLOAT ? v : Math.round(v * POW10[d]!), d);
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** The bytes written; the writer must not be used after. */
  finish(): Uint8Array {
    const out = this.buf.slice(0, this.pos);
    if (this.pooled) scratch = this.buf.length <= SCRATCH_MAX ? this.buf : new Uint8Array(SCRATCH_BYTES);
    return out;
  }
}

export class ByteReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  fail(what: string): never {
    throw new StateCorruptError(`corrupt state at byte ${this.pos}: ${what}`);
  }

  check(ok: boolean, what: string): void {
    if (!ok) this.fail(what);
  }

  get position(): number {
    return this.pos;
  }

  /** The bytes read since `start` (a position). */
  bytesSince(start: number): Uint8Array {
    return this.buf.subarray(start, this.pos);
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) this.fail('unexpected end');
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u32(): number {
    this.need(4);
    const n = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return n;
  }

  varint(): number {
    let n = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      n += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (n > Number.MAX_SAFE_INTEGER || (i > 0 && b === 0)) this.fail('bad varint');
        return n;
      }
      mul *= 0x80;
    }
    return this.fail('varint too long');
  }

  /** A count of items that each take at least one byte. */
  count(): number {
    const n = this.varint();
    this.check(n <= this.remaining, 'count exceeds the data');
    return n;
  }

  zigzag(): number {
    const z = this.varint();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  f64(): number {
    this.need(8);
    const x = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    this.check(Number.isFinite(x), 'non-finite number');
    return x;
  }

  f32s(dim: number): Float32Array {
    this.need(dim * 4);
    const v = new Float32Array(dim);
    for (let i = 0; i < dim; i++, this.pos += 4) v[i] = this.view.getFloat32(this.pos, true);
    this.check(v.every(Number.isFinite), 'non-finite vector element');
    return v;
  }

  string(): string {
    const n = this.count();
    const bytes = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    try {
      return decoder.decode(bytes);
    } catch {
      return this.fail('invalid UTF-8');
    }
  }

  /** [units, scale] as written by ByteWriter.scaled. */
  scaled(): [number, number] {
    const h = this.varint();
    const scale = h % 8;
    if (scale === FLOAT) return [this.f64(), FLOAT];
    this.check(scale <= MAX_DECIMALS, 'bad number scale');
    const z = (h - scale) / 8;
    return [z % 2 === 0 ? z / 2 : -(z + 1) / 2, scale];
  }

  num(): number {
    const [units, scale] = this.scaled();
    return scale === FLOAT ? units : units / POW10[scale]! + 0;
  }
}

/** Writes the tile indices at tiles[from], tiles[from + stride], ... before tiles[to]. */
export function writeTiles(w: ByteWriter, tiles: readonly number[], newestTile: number, stride = 1, from = 0, to = tiles.length): void {
  w.varint((to - from) / stride);
  for (let j = from; j < to; j += stride) w.varint(j === from ? newestTile - tiles[j]! : tiles[j]! - tiles[j - stride]! - 1);
}

export function readTiles(r: ByteReader, newestTile: number, min: number): number[] {
  const n = r.count();
  r.check(n >= min, 'empty tile list');
  const tiles: number[] = [];
  for (let i = 0; i < n; i++) tiles.push(i === 0 ? newestTile - r.varint() : tiles[i - 1]! + r.varint() + 1);
  return tiles;
}
