/**
 * The wire format of a `POST /features` answer, written straight from the
 * reader's vectors into bytes (json-bytes.ts):
 *
 *   {"vectors": [{"entity_id", "features": {name: value}, "source", "defaulted", "age_ms"}]}
 *
 * The same text as JSON.stringify of that object with each Float32Array as a
 * plain array, without building the object or the text first: a batch of 100
 * is about 1,100 values, and the intermediate strings were most of the
 * server's own garbage per request. Non-finite numbers are `null`, as
 * JSON.stringify writes them; a value that is undefined leaves its feature
 * out, likewise.
 */
import type { FeatureVector } from '../serving/types.ts';
import { JsonBytes } from './json-bytes.ts';

/** Feature names are the registry's: few, so their quoted form is kept, as bytes. */
const MAX_NAMES = 10_000;
const quotedNames = new Map<string, Buffer>();

function quotedName(name: string): Buffer {
  let quoted = quotedNames.get(name);
  if (quoted === undefined) {
    quoted = Buffer.from(`${JSON.stringify(name)}:`);
    if (quotedNames.size < MAX_NAMES) quotedNames.set(name, quoted);
  }
  return quoted;
}

const COMMA = 0x2c;

/**
 * The names of the record written last, by position, with their quoted bytes:
 * the vectors of one answer have the same features in the same order, so a
 * name is mostly the same string as the one at its position before, and the
 * map is not asked.
 */
const lastNames: string[] = [];
const lastQuoted: Buffer[] = [];

/** Writes `features`; true when its bytes can be kept with it (frozen, no typed array). */
function writeFeatures(out: JsonBytes, features: Readonly<Record<string, unknown>>): boolean {
  out.byte(0x7b);
  let first = true;
  let typed = false;
  let position = 0;
  for (const name in features) {
    const raw = features[name];
    if (raw instanceof Float32Array) typed = true;
    if (raw === undefined) continue;
    if (!first) out.byte(COMMA);
    let quoted = lastQuoted[position];
    if (lastNames[position] !== name || quoted === undefined) {
      quoted = quotedName(name);
      lastNames[position] = name;
      lastQuoted[position] = quoted;
    }
    position++;
    out.bytes(quoted);
    out.value(raw);
    first = false;
  }
  out.byte(0x7d);
  // A typed array's elements stay writable inside a frozen record.
  return !typed && Object.isFrozen(features);
}

/**
 * A vector's bytes up to its age, `{"entity_id":...,"age_ms":`, kept with its
 * frozen features record while that lives: the reader hands the same record
 * to every read of an unchanged entity (the cache, the decode memo), and it
 * cannot change in the meantime. Kept for one id, source and frozen
 * `defaulted` list, the last ones written with it; the age is written afresh.
 * Not kept for a default vector, whose record is made for one answer.
 */
interface Head {
  entityId: string;
  source: string;
  defaulted: readonly string[];
  bytes: Buffer;
}

const heads = new WeakMap<object, Head>();

function writeHead(out: JsonBytes, v: FeatureVector): void {
  const known = heads.get(v.features);
  if (known !== undefined && known.entityId === v.entityId && known.source === v.source && known.defaulted === v.defaulted) return out.bytes(known.bytes);
  const start = out.length;
  out.ascii('{"entity_id":');
  out.string(v.entityId);
  out.ascii(',"features":');
  const keep = writeFeatures(out, v.features);
  out.ascii(',"source":');
  out.string(v.source);
  out.ascii(',"defaulted":');
  if (v.defaulted.length === 0) out.ascii('[]');
  else out.value(v.defaulted);
  out.ascii(',"age_ms":');
  if (keep && v.source !== 'default' && Object.isFrozen(v.defaulted)) heads.set(v.features, { entityId: v.entityId, source: v.source, defaulted: v.defaulted, bytes: out.since(start) });
}

const writer = new JsonBytes();

export function vectorsJson(vectors: readonly FeatureVector[]): Buffer {
  const out = writer;
  out.reset();
  out.ascii('{"vectors":[');
  for (let i = 0; i < vectors.length; i++) {
    const v = vectors[i]!;
    if (i > 0) out.byte(COMMA);
    writeHead(out, v);
    if (v.ageMs === undefined) out.ascii('null');
    else out.number(v.ageMs);
    out.byte(0x7d);
  }
  out.ascii(']}');
  return out.take();
}
