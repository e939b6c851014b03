/**
 * The layouts of a vector key (one key per entity and feature group), and
 * the one owner of their formats:
 *
 *   fields  a hash, one field per feature (values by codec.ts) plus `_version`
 *           and `_updated_ms`: readable with redis-cli, one bulk string per feature.
 *   packed  the default: a string key holding the whole group as one blob, so
 *           a reader parses one bulk string per group instead of one per
 *           feature, and a batch is one MGET (Redis' cheapest multi-key read).
 *   packed-hash  read only: the same blob as the one field `_p` of a hash, how
 *           packed versions were stored before (fingerprint suffix `+packed`).
 *           Readers still serve such a version; workers write only the
 *           layouts above, so a backfill moves it to strings.
 *
 * Packed blob, format 1 (all numbers little-endian):
 *   [0]       u8   format (1); any other value is unreadable
 *   [1..8]    f64  `_version`     } written by the Lua writers (materialize-n.lua,
 *   [9..16]   f64  `_updated_ms`  } rewarm-n.lua), which receive these bytes zeroed
 *   [17..18]  u16  S = schema length
 *   [19..]    S    schema, UTF-8: `name:code` per feature of the group, joined by
 *                  `,`; codes i (int), f (float), s (string), l (string_list), v<dim>
 *   then      ceil(n/8) presence bits, bit i = feature i of the schema has a value
 *   then      fixed region: per int/float feature an f64, per vector feature dim
 *                  f32, at offsets fixed by the schema (zero bytes when absent)
 *   then      variable region, present string features in schema order:
 *                  string: u32 byte length + UTF-8; string_list: u32 count, then
 *                  per item u32 byte length + UTF-8. It ends at the blob's end.
 *
 * The schema travels with every blob so that a reader whose registry differs
 * from the writer's (a rolling deploy around a backfill) still finds its
 * features by name instead of misreading offsets: a blob with the reader's own
 * schema is recognized by one byte comparison; another schema is compiled once
 * and cached. Versions are microsecond timestamps, exact in an f64 (< 2^53).
 */
import type { FeatureValue, ResolvedFeature } from '../schemas/registry.ts';
import type { VectorLayout } from '../schemas/registry-input.ts';
import { decodeFeatureValue, encodeFeatureValue, LIST_SEPARATOR } from './codec.ts';
import { UPDATED_FIELD, VERSION_FIELD } from './entity-state.ts';
import { PACKED_FORMAT, PACKED_HEADER_BYTES, PackedReader, SCHEMA_AT, entryOf, layoutOf, schemaText, type SchemaEntry, type SchemaLayout } from './packed-reader.ts';

export { PACKED_FORMAT, PACKED_HEADER_BYTES, PackedReader, type PackedRead } from './packed-reader.ts';


/** The packed-hash layout's only hash field (feature names start with a letter, so it never clashes). */
export const PACKED_FIELD = '_p';

/** How a keyspace version stores its vectors: a registry layout, or the packed hashes of older versions. */
export type StoredLayout = VectorLayout | 'packed-hash';

/** Marks a packed keyspace version in `fs:layouts`; a bare fingerprint is the per-field layout (as before layouts existed). */
const PACKED_FINGERPRINT_SUFFIX = '+packed-string';
/** A packed version stored as hashes (before packed vectors became strings). */
const PACKED_HASH_FINGERPRINT_SUFFIX = '+packed';

export function fingerprintWithLayout(fingerprint: string, layout: VectorLayout): string {
  return layout === 'packed' ? fingerprint + PACKED_FINGERPRINT_SUFFIX : fingerprint;
}

/** The stored layout of a keyspace version, from its recorded fingerprint. */
export function layoutOfFingerprint(fingerprint: string): StoredLayout {
  if (fingerprint.endsWith(PACKED_FINGERPRINT_SUFFIX)) return 'packed';
  return fingerprint.endsWith(PACKED_HASH_FINGERPRINT_SUFFIX) ? 'packed-hash' : 'fields';
}

/** A vector key's content as read: a string key's value, a hash's HGETALL reply, or undefined when absent. */
export type StoredContent = Buffer | Readonly<Record<string, Buffer | string>> | undefined;

/** One group's values as the stores hand them around: feature name -> value, lapsed ones absent. */
export type GroupValues = Readonly<Record<string, FeatureValue | undefined>>;

/** What a vector key holds, whichever its layout. */
export interface StoredGroup {
  version: number | undefined;
  updatedMs: number | undefined;
  values: Record<string, FeatureValue>;
  /** Features whose stored value could not be read (the whole group when a blob is unreadable). */
  corrupt: string[];
}

/** The same checks and message as the per-field codec: both layouts accept exactly the same values. */
function reject(f: ResolvedFeature, value: unknown): never {
  const shown = value instanceof Float32Array ? `Float32Array(${value.length})` : JSON.stringify(value);
  throw new TypeError(`cannot store ${shown} as ${f.type} feature ${f.name}`);
}

/**
 * Both layouts of one feature group, compiled once from the registry group's
 * features (in group order). Writers call `packed`/`fields`; readers of whole
 * keys (sync, tests, tools) call `decode`; the serving hot path uses a
 * PackedReader of its own feature subset.
 */
export class GroupCodec {
  private readonly entries: readonly SchemaEntry[];
  private readonly schema: Buffer;
  private readonly layout: SchemaLayout;
  private readonly full: PackedReader;

  constructor(readonly features: readonly ResolvedFeature[]) {
    this.entries = features.map(entryOf);
    this.schema = Buffer.from(schemaText(this.entries), 'utf8');
    if (this.schema.length > 0xffff) throw new RangeError(`feature group of ${features[0]?.name ?? '?'} has too long a schema to pack`);
    this.layout = layoutOf(this.entries, this.schema.length);
    this.full = new PackedReader(features, features);
  }

  /** A reader of `wanted` (features of this group) out of blobs. */
  reader(wanted: readonly ResolvedFeature[]): PackedReader {
    return new PackedReader(this.features, wanted);
  }

  /** The packed blob with version and update time zeroed (the Lua writer fills them). Throws TypeError on a value the type cannot hold. */
  packed(values: GroupValues): Buffer {
    const { features, entries, layout } = this;
    let size = layout.varAt;
    const texts: Array<string | readonly string[] | undefined> = [];
    for (const i of layout.varEntries) {
      const f = features[i]!;
      const value = values[f.name];
      texts.push(value === undefined ? undefined : (value as string | string[]));
      if (value === undefined) continue;
      if (entries[i]!.kind === 's') {
        if (typeof value !== 'string') reject(f, value);
        size += 4 + Buffer.byteLength(value);
      } else {
        if (!Array.isArray(value) || value.some((s) => typeof s !== 'string' || s === '' || s.includes(LIST_SEPARATOR))) reject(f, value);
        size += 4;
        for (const s of value) size += 4 + Buffer.byteLength(s);
      }
    }
    const blob = Buffer.alloc(size);
    blob[0] = PACKED_FORMAT;
    blob.writeUInt16LE(this.schema.length, PACKED_HEADER_BYTES);
    this.schema.copy(blob, SCHEMA_AT);
    for (let i = 0; i < entries.length; i++) {
      const value = values[features[i]!.name];
      if (value === undefined) continue;
      blob[layout.bitsAt + (i >> 3)]! |= 1 << (i & 7);
      const at = layout.fixedAt[i]!;
      if (at < 0) continue;
      const e = entries[i]!;
      if (e.kind === 'v') {
        if (!(value instanceof Float32Array) || value.length !== e.dim || !value.every(Number.isFinite)) reject(features[i]!, value);
        for (let k = 0; k < e.dim; k++) blob.writeFloatLE(value[k]!, at + 4 * k);
      } else {
        if (typeof value !== 'number' || (e.kind === 'i' ? !Number.isSafeInteger(value) : !Number.isFinite(value))) reject(features[i]!, value);
        blob.writeDoubleLE(value + 0, at);
      }
    }
    let at = layout.varAt;
    for (const text of texts) {
      if (text === undefined) continue;
      if (typeof text === 'string') {
        const len = blob.write(text, at + 4, 'utf8');
        blob.writeUInt32LE(len, at);
        at += 4 + len;
      } else {
        blob.writeUInt32LE(text.length, at);
        at += 4;
        for (const s of text) {
          const len = blob.write(s, at + 4, 'utf8');
          blob.writeUInt32LE(len, at);
          at += 4 + len;
        }
      }
    }
    return blob;
  }

  /**
   * A vector key's content as the Lua writers leave it, version and write time
   * filled in: for writers outside the worker's scripts (benchmark and test
   * seeding, `featurestream size`). A Buffer is a string key's value, a record a hash's fields.
   */
  content(layout: 'fields', values: GroupValues, version: number, updatedMs: number): Record<string, string | Buffer>;
  content(layout: StoredLayout, values: GroupValues, version: number, updatedMs: number): Buffer | Record<string, string | Buffer>;
  content(layout: StoredLayout, values: GroupValues, version: number, updatedMs: number): Buffer | Record<string, string | Buffer> {
    if (layout === 'fields') return { [VERSION_FIELD]: String(version), [UPDATED_FIELD]: String(updatedMs), ...Object.fromEntries(this.fields(values).set) };
    const blob = this.packed(values);
    blob.writeDoubleLE(version, 1);
    blob.writeDoubleLE(updatedMs, 9);
    return layout === 'packed' ? blob : { [PACKED_FIELD]: blob };
  }

  /** Whether `feature` (of this group) can store `value`: the same answer in both layouts. */
  holds(feature: ResolvedFeature, value: FeatureValue): boolean {
    try {
      encodeFeatureValue(feature, value);
      return true;
    } catch {
      return false;
    }
  }

  /** The per-field layout: fields to set (feature name, encoded value) and to delete (lapsed features). */
  fields(values: GroupValues): { set: Array<[string, string | Buffer]>; del: string[] } {
    const set: Array<[string, string | Buffer]> = [];
    const del: string[] = [];
    for (const f of this.features) {
      const value = values[f.name];
      if (value === undefined) del.push(f.name);
      else set.push([f.name, encodeFeatureValue(f, value)]);
    }
    return { set, del };
  }

  /**
   * Decodes a vector key in any layout: a string key's blob, or a hash's
   * HGETALL reply (a hash holding `_p` is packed-hash). Undefined when the key
   * is absent or empty. Never throws.
   */
  decode(stored: StoredContent): StoredGroup | undefined {
    if (stored === undefined) return undefined;
    if (Buffer.isBuffer(stored)) return this.decodeBlob(stored);
    const hash = stored;
    const blob = hash[PACKED_FIELD];
    if (blob !== undefined) return this.decodeBlob(typeof blob === 'string' ? Buffer.from(blob, 'latin1') : blob);
    if (Object.keys(hash).length === 0) return undefined;
    const values: Record<string, FeatureValue> = {};
    const corrupt: string[] = [];
    for (const f of this.features) {
      const raw = hash[f.name];
      if (raw === undefined) continue;
      const decoded = decodeFeatureValue(f, raw);
      if (decoded.ok) values[f.name] = decoded.value;
      else corrupt.push(f.name);
    }
    const version = Number(hash[VERSION_FIELD]?.toString());
    const updatedMs = Number(hash[UPDATED_FIELD]?.toString());
    return {
      version: Number.isSafeInteger(version) ? version : undefined,
      updatedMs: Number.isFinite(updatedMs) ? updatedMs : undefined,
      values,
      corrupt,
    };
  }

  private decodeBlob(blob: Buffer): StoredGroup {
    const read = this.full.read(blob);
    if (read === undefined) return { version: undefined, updatedMs: undefined, values: {}, corrupt: this.features.map((f) => f.name) };
    const values: Record<string, FeatureValue> = {};
    read.values.forEach((v, i) => {
      if (v !== undefined) values[this.features[i]!.name] = v;
    });
    return { version: read.version, updatedMs: read.updatedMs, values, corrupt: [] };
  }
}
