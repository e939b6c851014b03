/**
 * The wire format of a `POST /features` answer, written straight from the
 * reader's vectors:
 *
 *   {"vectors": [{"entity_id", "features": {name: value}, "source", "defaulted", "age_ms"}]}
 *
 * The same text as JSON.stringify of that object with each Float32Array as a
 * plain array, without building the object first: a batch of 100 is about
 * 1,100 values, and the intermediate copies were most of the server's own
 * garbage per request. Non-finite numbers are `null`, as JSON.stringify
 * writes them; a value that is undefined leaves its feature out, likewise.
 */
import type { FeatureVector } from '../serving/types.ts';

/** Feature names are the registry's: few, so their quoted form is kept. */
const MAX_NAMES = 10_000;
const quotedNames = new Map<string, string>();

function quotedName(name: string): string {
  let quoted = quotedNames.get(name);
  if (quoted === undefined) {
    quoted = `${JSON.stringify(name)}:`;
    if (quotedNames.size < MAX_NAMES) quotedNames.set(name, quoted);
  }
  return quoted;
}

const num = (n: number): string => (Number.isFinite(n) ? String(n) : 'null');

/** A value's JSON text, or undefined for a value JSON.stringify leaves out of an object. */
function valueText(value: unknown): string | undefined {
  switch (typeof value) {
    case 'number':
      return num(value);
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      return undefined;
    default:
      if (value instanceof Float32Array) {
        let text = '[';
        for (let i = 0; i < value.length; i++) text += (i === 0 ? '' : ',') + num(value[i]!);
        return `${text}]`;
      }
      return JSON.stringify(value);
  }
}

/**
 * The text of a frozen features record without typed arrays, kept while the
 * record lives: the reader's cache hands the same frozen record to every hit
 * until its time bucket changes, and it cannot change in the meantime.
 */
const frozenTexts = new WeakMap<object, string>();

function featuresText(features: Readonly<Record<string, unknown>>): string {
  const known = frozenTexts.get(features);
  if (known !== undefined) return known;
  let text = '{';
  let first = true;
  let typed = false;
  for (const name in features) {
    const raw = features[name];
    if (raw instanceof Float32Array) typed = true;
    const value = valueText(raw);
    if (value === undefined) continue;
    text += (first ? '' : ',') + quotedName(name) + value;
    first = false;
  }
  text += '}';
  // A typed array's elements stay writable inside a frozen record: never kept.
  if (!typed && Object.isFrozen(features)) frozenTexts.set(features, text);
  return text;
}

export function vectorsJson(vectors: readonly FeatureVector[]): string {
  let text = '{"vectors":[';
  for (let i = 0; i < vectors.length; i++) {
    const v = vectors[i]!;
    text += `${i === 0 ? '' : ','}{"entity_id":${JSON.stringify(v.entityId)},"features":${featuresText(v.features)}`;
    text += `,"source":${JSON.stringify(v.source)},"defaulted":${v.defaulted.length === 0 ? '[]' : JSON.stringify(v.defaulted)}`;
    text += `,"age_ms":${v.ageMs === undefined ? 'null' : num(v.ageMs)}}`;
  }
  return `${text}]}`;
}
