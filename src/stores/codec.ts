/**
 * One feature value <-> one Redis hash field value.
 *
 *   int          decimal integer: "14"
 *   float        plain decimal, shortest round-trip digits, never exponent notation: "892.5", "0.00000015"
 *   string       the string itself (UTF-8)
 *   string_list  items joined by \x1f (ASCII unit separator); "" is the empty list. Items are
 *                non-empty and contain no \x1f (the engine never keeps such values). Chosen over
 *                JSON to keep 10 short ids under Redis's 64-byte listpack value limit.
 *   vector       dim float32 values, little-endian, packed (4 x dim bytes)
 */
import type { FeatureValue, ResolvedFeature } from '../schemas/registry.ts';

export const LIST_SEPARATOR = '\x1f';

export type DecodedFeatureValue = { ok: true; value: FeatureValue } | { ok: false };

const INT = /^-?\d{1,16}$/;
const DECIMAL = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const MISSING: DecodedFeatureValue = { ok: false };

/** A finite number in plain decimal notation that parses back to the same number. */
export function plainDecimal(v: number): string {
  const s = String(v + 0);
  const e = s.indexOf('e');
  if (e < 0) return s;
  const sign = s.startsWith('-') ? '-' : '';
  const [whole = '', frac = ''] = s.slice(sign.length, e).split('.');
  const digits = whole + frac;
  const point = whole.length + Number(s.slice(e + 1));
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return sign + digits + '0'.repeat(point - digits.length);
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

function reject(feature: ResolvedFeature, value: unknown): never {
  const shown = value instanceof Float32Array ? `Float32Array(${value.length})` : JSON.stringify(value);
  throw new TypeError(`cannot store ${shown} as ${feature.type} feature ${feature.name}`);
}

export function encodeFeatureValue(feature: ResolvedFeature, value: FeatureValue): string | Buffer {
  switch (feature.type) {
    case 'int':
      if (!Number.isSafeInteger(value)) reject(feature, value);
      return String((value as number) + 0);
    case 'float':
      if (typeof value !== 'number' || !Number.isFinite(value)) reject(feature, value);
      return plainDecimal(value);
    case 'string':
      if (typeof value !== 'string') reject(feature, value);
      return value;
    case 'string_list':
      if (!Array.isArray(value) || value.some((s) => typeof s !== 'string' || s === '' || s.includes(LIST_SEPARATOR))) {
        reject(feature, value);
      }
      return value.join(LIST_SEPARATOR);
    case 'vector': {
      if (!(value instanceof Float32Array) || value.length !== feature.dim || !value.every(Number.isFinite)) reject(feature, value);
      const buf = Buffer.allocUnsafe(value.length * 4);
      value.forEach((x, i) => buf.writeFloatLE(x, i * 4));
      return buf;
    }
  }
}

/** Missing or corrupt values give `{ ok: false }`; the reader then serves the default. */
export function decodeFeatureValue(feature: ResolvedFeature, raw: string | Buffer | null | undefined): DecodedFeatureValue {
  if (raw === null || raw === undefined) return MISSING;
  if (feature.type === 'vector') {
    if (typeof raw === 'string' || raw.length !== (feature.dim ?? 0) * 4) return MISSING;
    const v = new Float32Array(feature.dim!);
    for (let i = 0; i < v.length; i++) v[i] = raw.readFloatLE(i * 4);
    return v.every(Number.isFinite) ? { ok: true, value: v } : MISSING;
  }
  const s = typeof raw === 'string' ? raw : raw.toString('utf8');
  switch (feature.type) {
    case 'int': {
      const n = Number(s);
      return INT.test(s) && Number.isSafeInteger(n) ? { ok: true, value: n + 0 } : MISSING;
    }
    case 'float': {
      const n = Number(s);
      return DECIMAL.test(s) && Number.isFinite(n) ? { ok: true, value: n + 0 } : MISSING;
    }
    case 'string':
      return { ok: true, value: s };
    case 'string_list': {
      if (s === '') return { ok: true, value: [] };
      const items = s.split(LIST_SEPARATOR);
      return items.includes('') ? MISSING : { ok: true, value: items };
    }
  }
}
