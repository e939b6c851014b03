/**
 * The packed blob's schema and its reader (the format is described in
 * vector-layout.ts, which owns both layouts and re-exports what callers use):
 * a schema is compiled once into offsets, and a reader decodes blobs of its
 * own schema, or of another writer's (compiled once and cached), into values.
 */
import { endianness } from 'node:os';
import type { FeatureValue, ResolvedFeature } from '../schemas/registry.ts';

/** Format byte, version and update time: the bytes before the schema length. */
export const PACKED_HEADER_BYTES = 17;
export const PACKED_FORMAT = 1;
export const SCHEMA_AT = PACKED_HEADER_BYTES + 2;
const SCHEMA_SEPARATOR = ',';

type Kind = 'i' | 'f' | 's' | 'l' | 'v';

export interface SchemaEntry {
  name: string;
  kind: Kind;
  dim: number;
}

const KIND: Record<ResolvedFeature['type'], Kind> = { int: 'i', float: 'f', string: 's', string_list: 'l', vector: 'v' };

export function entryOf(f: ResolvedFeature): SchemaEntry {
  return { name: f.name, kind: KIND[f.type], dim: f.type === 'vector' ? f.dim! : 0 };
}

export function schemaText(entries: readonly SchemaEntry[]): string {
  return entries.map((e) => `${e.name}:${e.kind}${e.kind === 'v' ? e.dim : ''}`).join(SCHEMA_SEPARATOR);
}

const ENTRY = /^([a-z][a-z0-9_]{0,63}):(?:([ifsl])|v([1-9]\d{0,5}))$/;

function parseSchema(text: string): SchemaEntry[] | undefined {
  const out: SchemaEntry[] = [];
  for (const part of text.split(SCHEMA_SEPARATOR)) {
    const m = ENTRY.exec(part);
    if (!m) return undefined;
    out.push(m[2] ? { name: m[1]!, kind: m[2] as Kind, dim: 0 } : { name: m[1]!, kind: 'v', dim: Number(m[3]) });
  }
  return out;
}

function fixedBytes(e: SchemaEntry): number {
  return e.kind === 'i' || e.kind === 'f' ? 8 : e.kind === 'v' ? 4 * e.dim : 0;
}

/** Where one schema puts things; relative offsets, compiled once per schema. */
export interface SchemaLayout {
  entries: readonly SchemaEntry[];
  schemaBytes: number;
  /** Offset of the presence bits from the blob start. */
  bitsAt: number;
  /** Per entry: offset of its fixed slot from the blob start, or -1 for a variable-length entry. */
  fixedAt: Int32Array;
  /** Offset of the variable region from the blob start. */
  varAt: number;
  /** Entry indexes of the variable-length entries, in order. */
  varEntries: readonly number[];
}

export function layoutOf(entries: readonly SchemaEntry[], schemaBytes: number): SchemaLayout {
  const bitsAt = SCHEMA_AT + schemaBytes;
  let at = bitsAt + Math.ceil(entries.length / 8);
  const fixedAt = new Int32Array(entries.length);
  const varEntries: number[] = [];
  entries.forEach((e, i) => {
    const n = fixedBytes(e);
    if (n === 0) {
      fixedAt[i] = -1;
      varEntries.push(i);
    } else {
      fixedAt[i] = at;
      at += n;
    }
  });
  return { entries, schemaBytes, bitsAt, fixedAt, varAt: at, varEntries };
}

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

export interface PackedRead {
  version: number;
  updatedMs: number;
  /** In the reader's `wanted` order; undefined where the blob holds no value (lapsed, or not in its schema). */
  values: Array<FeatureValue | undefined>;
}

/** How a wanted fixed-size entry is read: an f64 that must be a safe integer, an f64 that must be finite, or f32s. */
const INT = 0;
const FLOAT = 1;
const FLOATS = 2;

/**
 * A compiled read of one blob schema into the reader's wanted features: the
 * wanted fixed-size entries as flat arrays (unwanted ones are never looked
 * at: their offsets are fixed), and every variable-length entry in order
 * (each must be walked to find the next).
 */
interface ReadPlan {
  layout: SchemaLayout;
  /** Per wanted fixed entry: schema index (its presence bit), offset from the blob start, FLOAT/INT/FLOATS, f32 count, position in `wanted`. */
  fixedEntry: Int32Array;
  fixedAt: Int32Array;
  fixedKind: Uint8Array;
  fixedDim: Int32Array;
  fixedTo: Int32Array;
  /** Per variable entry in schema order: schema index, list (1) or string (0), position in `wanted` or -1. */
  varEntry: Int32Array;
  varList: Uint8Array;
  varTo: Int32Array;
}

/** Schemas other than the reader's own kept compiled; a deploy brings one or two. */
const MAX_FOREIGN_SCHEMAS = 16;

/**
 * Decodes packed blobs into a fixed list of features (a reader's group plan,
 * possibly a subset of the group). Never throws: undefined means unreadable.
 */
export class PackedReader {
  private readonly own: ReadPlan;
  private readonly ownSchema: Buffer;
  private readonly foreign = new Map<string, ReadPlan | undefined>();
  /**
   * A view of the memory the last blob lives in: a batch's blobs are slices of
   * one reply buffer, so one DataView serves them all and numbers are read
   * without a call per byte. It keeps that one buffer alive until the next read.
   */
  private view: DataView | undefined;

  constructor(
    group: readonly ResolvedFeature[],
    private readonly wanted: readonly ResolvedFeature[],
  ) {
    const entries = group.map(entryOf);
    this.ownSchema = Buffer.from(schemaText(entries), 'utf8');
    this.own = this.compile(layoutOf(entries, this.ownSchema.length));
    this.identity = wanted.map((_, i) => i);
  }

  /** Version and write time of the blob last read successfully by readInto. */
  version = 0;
  updatedMs = 0;
  private readonly identity: readonly number[];

  read(blob: Buffer): PackedRead | undefined {
    const values = new Array<FeatureValue | undefined>(this.wanted.length);
    if (!this.readInto(blob, values, this.identity)) return undefined;
    return { version: this.version, updatedMs: this.updatedMs, values };
  }

  /**
   * Decodes `blob` into `out[slots[i]]` for wanted feature i (lists frozen: the
   * reader shares them), leaving absent ones untouched; `version`/`updatedMs`
   * hold the blob's. False when the blob is unreadable: then some slots may be
   * written already, and the caller discards them.
   */
  readInto(blob: Buffer, out: { [slot: number]: FeatureValue | readonly string[] | undefined }, slots: readonly number[]): boolean {
    const end = blob.length;
    if (end < SCHEMA_AT || blob[0] !== PACKED_FORMAT) return false;
    const schemaBytes = blob[PACKED_HEADER_BYTES]! | (blob[PACKED_HEADER_BYTES + 1]! << 8);
    const plan = this.planFor(blob, schemaBytes);
    if (plan === undefined) return false;
    const { layout } = plan;
    if (end < layout.varAt) return false;
    let view = this.view;
    if (view === undefined || view.buffer !== blob.buffer) this.view = view = new DataView(blob.buffer);
    const base = blob.byteOffset;
    const version = view.getFloat64(base + 1, true);
    const updatedMs = view.getFloat64(base + 9, true);
    if (!Number.isSafeInteger(version) || version <= 0 || !Number.isFinite(updatedMs)) return false;
    const bitsAt = layout.bitsAt;
    const { fixedEntry, fixedAt, fixedKind, fixedTo } = plan;
    for (let j = 0; j < fixedEntry.length; j++) {
      const i = fixedEntry[j]!;
      if ((blob[bitsAt + (i >> 3)]! & (1 << (i & 7))) === 0) continue;
      const kind = fixedKind[j]!;
      if (kind === FLOATS) {
        const v = readFloats(blob, fixedAt[j]!, plan.fixedDim[j]!);
        if (v === undefined) return false;
        out[slots[fixedTo[j]!]!] = v;
      } else {
        const n = view.getFloat64(base + fixedAt[j]!, true);
        if (kind === INT ? !Number.isSafeInteger(n) : !Number.isFinite(n)) return false;
        out[slots[fixedTo[j]!]!] = n + 0;
      }
    }
    const { varEntry, varList, varTo } = plan;
    let at = layout.varAt;
    for (let j = 0; j < varEntry.length; j++) {
      const i = varEntry[j]!;
      if ((blob[bitsAt + (i >> 3)]! & (1 << (i & 7))) === 0) continue;
      const to = varTo[j]!;
      if (at + 4 > end) return false;
      const n = view.getUint32(base + at, true);
      at += 4;
      if (varList[j] === 0) {
        if (at + n > end) return false;
        if (to >= 0) out[slots[to]!] = utf8(blob, at, at + n);
        at += n;
        continue;
      }
      // Each item takes 4 bytes at least: a count beyond what remains is garbage, not an allocation.
      if (n > (end - at) / 4) return false;
      const items = to >= 0 ? new Array<string>(n) : undefined;
      for (let k = 0; k < n; k++) {
        if (at + 4 > end) return false;
        const len = view.getUint32(base + at, true);
        at += 4;
        if (at + len > end) return false;
        if (items) items[k] = utf8(blob, at, at + len);
        at += len;
      }
      if (items) out[slots[to]!] = Object.freeze(items);
    }
    if (at !== end) return false;
    this.version = version;
    this.updatedMs = updatedMs;
    return true;
  }

  private planFor(blob: Buffer, schemaBytes: number): ReadPlan | undefined {
    const end = SCHEMA_AT + schemaBytes;
    if (blob.length < end) return undefined;
    if (schemaBytes === this.ownSchema.length && blob.compare(this.ownSchema, 0, schemaBytes, SCHEMA_AT, end) === 0) return this.own;
    const text = blob.toString('utf8', SCHEMA_AT, end);
    if (this.foreign.has(text)) return this.foreign.get(text);
    const entries = parseSchema(text);
    const plan = entries && this.compile(layoutOf(entries, schemaBytes));
    if (this.foreign.size >= MAX_FOREIGN_SCHEMAS) this.foreign.clear();
    this.foreign.set(text, plan);
    return plan;
  }

  private compile(layout: SchemaLayout): ReadPlan {
    const target = layout.entries.map((e) =>
      this.wanted.findIndex((f) => {
        const w = entryOf(f);
        return w.name === e.name && w.kind === e.kind && w.dim === e.dim;
      }),
    );
    const fixed = layout.entries.flatMap((e, i) => (layout.fixedAt[i]! >= 0 && target[i]! >= 0 ? [i] : []));
    const kindOf = (e: SchemaEntry) => (e.kind === 'v' ? FLOATS : e.kind === 'i' ? INT : FLOAT);
    return {
      layout,
      fixedEntry: Int32Array.from(fixed),
      fixedAt: Int32Array.from(fixed, (i) => layout.fixedAt[i]!),
      fixedKind: Uint8Array.from(fixed, (i) => kindOf(layout.entries[i]!)),
      fixedDim: Int32Array.from(fixed, (i) => layout.entries[i]!.dim),
      fixedTo: Int32Array.from(fixed, (i) => target[i]!),
      varEntry: Int32Array.from(layout.varEntries),
      varList: Uint8Array.from(layout.varEntries, (i) => (layout.entries[i]!.kind === 'l' ? 1 : 0)),
      varTo: Int32Array.from(layout.varEntries, (i) => target[i]!),
    };
  }
}

/** Below this length an ASCII string is built in JS: cheaper than a call into Buffer's native decoder. */
const SHORT_STRING = 12;

function utf8(blob: Buffer, from: number, to: number): string {
  if (to - from > SHORT_STRING) return blob.toString('utf8', from, to);
  let s = '';
  for (let k = from; k < to; k++) {
    const c = blob[k]!;
    if (c >= 0x80) return blob.toString('utf8', from, to);
    s += String.fromCharCode(c);
  }
  return s;
}

function readFloats(blob: Buffer, at: number, dim: number): Float32Array | undefined {
  const v = new Float32Array(dim);
  if (LITTLE_ENDIAN_HOST) new Uint8Array(v.buffer).set(blob.subarray(at, at + 4 * dim));
  else for (let k = 0; k < dim; k++) v[k] = blob.readFloatLE(at + 4 * k);
  for (let k = 0; k < dim; k++) if (!Number.isFinite(v[k]!)) return undefined;
  return v;
}

