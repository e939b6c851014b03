/**
 * HyperLogLog registers for approx_distinct, on the 52-bit value hash of
 * dedup.ts: the low P = 12 bits choose one of M = 4096 registers, the other
 * Q = 40 bits give the register value (1 + leading zeros, Q + 1 when all are
 * zero; 0 = empty). Registers of several tiles merge by max into the
 * registers of the union, so a window's estimate is that of its events
 * whatever the tiles. The estimate is Ertl's improved raw estimator ("New
 * cardinality estimation algorithms for HyperLogLog sketches", 2017): no bias
 * tables, relative standard error 1.04 / sqrt(M) = 1.63% over the whole
 * range, and close to exact for counts far below M.
 */
import { ByteWriter, type ByteReader } from './bytes.ts';

export const P = 12;
export const M = 1 << P;
export const Q = 40;
const TWO_32 = 2 ** 32;
/** In the dense form, the nibble that marks an exception (a register 15 or more above the smallest). */
const NIBBLE_ESCAPE = 15;
/** Up to this many non-empty registers (about 2 bytes each) the sparse form is shorter whatever the values. */
const SPARSE_ALWAYS = 600;

export function registerIndex(h: number): number {
  return h % M;
}

/** 1 + the leading zeros of the hash's 40 bits above the index. */
export function registerValue(h: number): number {
  const lo = h % TWO_32;
  const hi = (h - lo) / TWO_32;
  if (hi !== 0) return Math.clz32(hi) - 11;
  const mid = lo >>> P;
  return mid !== 0 ? 20 + Math.clz32(mid) - 11 : Q + 1;
}

/** Adds one hashed value to registers. */
export function addHash(regs: Uint8Array, h: number): void {
  const i = registerIndex(h);
  const v = registerValue(h);
  if (v > regs[i]!) regs[i] = v;
}

/** into = max(into, other), register by register. */
export function mergeInto(into: Uint8Array, other: Uint8Array): void {
  for (let i = 0; i < M; i++) if (other[i]! > into[i]!) into[i] = other[i]!;
}

function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  for (;;) {
    x *= x;
    const prev = z;
    z += x * y;
    y += y;
    if (z === prev) return z;
  }
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  for (;;) {
    x = Math.sqrt(x);
    const prev = z;
    y *= 0.5;
    z -= (1 - x) ** 2 * y;
    if (z === prev) return z / 3;
  }
}

/** The cardinality estimate of registers (Ertl 2017, improved raw estimator), rounded; 0 when empty. */
export function estimate(regs: Uint8Array): number {
  const c = new Array<number>(Q + 2).fill(0);
  for (let i = 0; i < M; i++) c[regs[i]!]!++;
  if (c[0] === M) return 0;
  let z = M * tau(1 - c[Q + 1]! / M);
  for (let k = Q; k >= 1; k--) z = 0.5 * (z + c[k]!);
  z += M * sigma(c[0]! / M);
  return Math.round(M / (2 * Math.LN2 * z) * M);
}

/** Sparse: count, then per non-empty register varint((index gap) * 64 + value), indices ascending. */
function writeSparse(w: ByteWriter, regs: Uint8Array, filled: number): void {
  w.varint(filled);
  let prev = -1;
  for (let i = 0; i < M; i++) {
    if (regs[i] === 0) continue;
    w.varint((i - prev - 1) * 64 + regs[i]!);
    prev = i;
  }
}

/**
 * Dense: 0, the smallest register `base`, the start `c` of the four
 * consecutive values most registers hold, then per register (bits LSB
 * first) 0 + 2 bits for a value in [c, c + 3], else 1 + a nibble: the value
 * above base, 15 for an exception; then the exceptions as (index gap,
 * value). About 3.5 bits a register once counts are large.
 */
function writeDense(w: ByteWriter, regs: Uint8Array): void {
  const counts = new Array<number>(Q + 2).fill(0);
  for (let i = 0; i < M; i++) counts[regs[i]!]!++;
  const base = counts.findIndex((n) => n > 0);
  let c = 0;
  let best = -1;
  for (let k = 0; k + 3 <= Q + 1; k++) {
    const n = counts[k]! + counts[k + 1]! + counts[k + 2]! + counts[k + 3]!;
    if (n > best) [c, best] = [k, n];
  }
  w.varint(0);
  w.u8(base);
  w.u8(c);
  const exceptions: number[] = [];
  let acc = 0;
  let bits = 0;
  const put = (value: number, width: number) => {
    acc |= value << bits;
    bits += width;
    while (bits >= 8) {
      w.u8(acc & 0xff);
      acc >>>= 8;
      bits -= 8;
    }
  };
  for (let i = 0; i < M; i++) {
    const v = regs[i]!;
    if (v >= c && v <= c + 3) put((v - c) << 1, 3);
    else {
      const nibble = Math.min(NIBBLE_ESCAPE, v - base);
      if (nibble === NIBBLE_ESCAPE) exceptions.push(i);
      put(1 | (nibble << 1), 5);
    }
  }
  if (bits > 0) w.u8(acc);
  w.varint(exceptions.length);
  let prev = -1;
  for (const i of exceptions) {
    w.varint(i - prev - 1);
    w.u8(regs[i]!);
    prev = i;
  }
}

/** One tile's registers, sparse or dense, whichever is shorter (sparse on a tie): equal registers give equal bytes. */
export function writeRegisters(w: ByteWriter, regs: Uint8Array): void {
  let filled = 0;
  for (let i = 0; i < M; i++) if (regs[i] !== 0) filled++;
  const sparse = new ByteWriter();
  writeSparse(sparse, regs, filled);
  if (filled <= SPARSE_ALWAYS) return w.raw(sparse.finish());
  const dense = new ByteWriter();
  writeDense(dense, regs);
  const [a, b] = [sparse.finish(), dense.finish()];
  w.raw(a.length <= b.length ? a : b);
}

function readSparse(r: ByteReader, regs: Uint8Array, n: number): void {
  let i = -1;
  for (let k = 0; k < n; k++) {
    const z = r.varint();
    i += Math.floor(z / 64) + 1;
    const v = z % 64;
    r.check(i < M && v >= 1 && v <= Q + 1, 'bad sparse register');
    regs[i] = v;
  }
}

function readDense(r: ByteReader, regs: Uint8Array): void {
  const base = r.u8();
  const c = r.u8();
  r.check(base <= Q + 1 && c + 3 <= Q + 1, 'bad dense registers');
  let acc = 0;
  let bits = 0;
  const take = (width: number) => {
    if (bits < width) {
      acc |= r.u8() << bits;
      bits += 8;
    }
    const v = acc & ((1 << width) - 1);
    acc >>>= width;
    bits -= width;
    return v;
  };
  const escaped: number[] = [];
  for (let i = 0; i < M; i++) {
    if (take(1) === 0) regs[i] = c + take(2);
    else {
      const nibble = take(4);
      if (nibble === NIBBLE_ESCAPE) escaped.push(i);
      regs[i] = base + nibble;
    }
  }
  r.check(r.varint() === escaped.length, 'bad register exceptions');
  let i = -1;
  for (const at of escaped) {
    i += r.varint() + 1;
    r.check(i === at, 'bad register exception');
    regs[i] = r.u8();
  }
  for (let k = 0; k < M; k++) r.check(regs[k]! <= Q + 1, 'bad register');
}

/** Reads what writeRegisters wrote, and only that: anything else (another form, other padding) is corrupt, so round trips keep the bytes. */
export function readRegisters(r: ByteReader): Uint8Array {
  const regs = new Uint8Array(M);
  const start = r.position;
  const n = r.varint();
  if (n === 0) readDense(r, regs);
  else readSparse(r, regs, n);
  const again = new ByteWriter();
  writeRegisters(again, regs);
  r.check(equalBytes(again.finish(), r.bytesSince(start)), 'non-canonical registers');
  return regs;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
