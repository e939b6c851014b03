/**
 * The packed vector layout (stores/vector-layout.ts): every feature type round
 * trips, unreadable blobs are refused (never thrown), a reader whose registry
 * differs from the writer's finds its features by name, and the reader serves
 * an unreadable blob as its group's defaults, counted corrupt.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FEATURE_TYPES, parseRegistry, type FeatureValue, type RegistryInput, type ResolvedFeature } from '../../../src/schemas/registry.ts';
import { emptyCounts, fromRedis } from '../../../src/serving/decode.ts';
import { planEntities } from '../../../src/serving/plan.ts';
import { encodeFeatureValue } from '../../../src/stores/codec.ts';
import { fingerprintWithLayout, GroupCodec, layoutOfFingerprint, PACKED_FIELD, PACKED_HEADER_BYTES, PackedReader } from '../../../src/stores/vector-layout.ts';
import { RegistryError } from '../../../src/errors.ts';

const sources = [
  { name: 'tx', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: 'transactions' },
  { name: 'emb', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: 'embeddings' },
] as const;

const input = {
  entities: [{ name: 'user' }],
  sources,
  features: [
    { name: 'n', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0 },
    { name: 'x', source: 'tx', op: 'sum', field: 'amount', window: '1h', type: 'float', default: 0 },
    { name: 's', source: 'tx', op: 'last', field: 'merchant_id', type: 'string', default: null, freshness: '1h' },
    { name: 'l', source: 'tx', op: 'last_k', field: 'merchant_id', k: 3, type: 'string_list', default: [], freshness: '1h' },
    { name: 'v', source: 'emb', op: 'last', field: 'embedding', type: 'vector', dim: 3, default: null, freshness: '1d' },
    { name: 'm', source: 'tx', op: 'max', field: 'amount', window: '1h', type: 'float', default: -1 },
  ],
} satisfies RegistryInput;
const registry = parseRegistry(input);
const features = registry.featuresOf('user');
const codec = new GroupCodec(features);
const f = (name: string): ResolvedFeature => registry.feature(name)!;

/** What the Lua writers do: the version and write time go into bytes 1..16. */
function stamp(blob: Buffer, version = 1_796_000_000_000_123, updatedMs = 1_796_000_000_000): Buffer {
  const out = Buffer.from(blob);
  out.writeDoubleLE(version, 1);
  out.writeDoubleLE(updatedMs, 9);
  return out;
}

const full: Record<string, FeatureValue> = { n: 14, x: 892.5, s: 'm9', l: ['m1', 'm2'], v: Float32Array.of(1, -2.5, 0.25), m: -0.000015 };

describe('packed layout', () => {
  it('round-trips every feature type, with the version and write time the writer stamped', () => {
    // A new feature type must be added to this registry (and the layout) before this passes again.
    expect(new Set(features.map((x) => x.type))).toEqual(new Set(FEATURE_TYPES));
    const read = codec.reader(features).read(stamp(codec.packed(full)));
    expect(read).toEqual({ version: 1_796_000_000_000_123, updatedMs: 1_796_000_000_000, values: features.map((x) => full[x.name]) });
  });

  it('round-trips arbitrary values of every type exactly as the per-field codec does', () => {
    const value = {
      n: fc.maxSafeInteger(),
      x: fc.double({ noNaN: true, noDefaultInfinity: true }),
      s: fc.string({ unit: 'grapheme' }),
      l: fc.array(fc.string({ minLength: 1, unit: 'grapheme' }).filter((t) => !t.includes('\x1f')), { maxLength: 5 }),
      v: fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 3, maxLength: 3 }).map((a) => Float32Array.from(a)),
      m: fc.double({ noNaN: true, noDefaultInfinity: true }),
    };
    const absentOr = <T,>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
    fc.assert(
      fc.property(fc.record(Object.fromEntries(Object.entries(value).map(([k, a]) => [k, absentOr(a as fc.Arbitrary<unknown>)]))), (values) => {
        const read = codec.reader(features).read(stamp(codec.packed(values as Record<string, FeatureValue>)))!;
        features.forEach((x, i) => {
          const v = values[x.name] as FeatureValue | undefined;
          // The reference: the per-field codec's canonical encoding of the same value (-0 is stored as 0 there too).
          if (v === undefined) expect(read.values[i]).toBeUndefined();
          else expect(encodeFeatureValue(x, read.values[i]!)).toEqual(encodeFeatureValue(x, v));
        });
      }),
      { numRuns: 300 },
    );
  });

  it('keeps absent (lapsed) features absent and the empty list and empty string as values', () => {
    const read = codec.reader(features).read(stamp(codec.packed({ s: '', l: [] })))!;
    expect(read.values).toEqual([undefined, undefined, '', [], undefined, undefined]);
  });

  it('refuses the values the per-field codec refuses', () => {
    for (const [name, bad] of [
      ['n', 1.5],
      ['x', Number.NaN],
      ['s', 3],
      ['l', ['a\x1fb']],
      ['l', ['']],
      ['v', Float32Array.of(1, 2)],
      ['v', Float32Array.of(1, Number.POSITIVE_INFINITY, 2)],
    ] as const) {
      expect(() => codec.packed({ [name]: bad as never })).toThrow(TypeError);
      expect(() => encodeFeatureValue(f(name), bad as never)).toThrow(TypeError);
    }
  });

  it('refuses every truncation, a wrong format byte, trailing bytes and an unstamped header, without throwing', () => {
    const good = stamp(codec.packed(full));
    const reader = codec.reader(features);
    for (let len = 0; len < good.length; len++) expect(reader.read(good.subarray(0, len)), `truncated to ${len}`).toBeUndefined();
    const wrongFormat = Buffer.from(good);
    wrongFormat[0] = 2;
    expect(reader.read(wrongFormat)).toBeUndefined();
    expect(reader.read(Buffer.concat([good, Buffer.from([0])]))).toBeUndefined();
    // The Lua writer never ran (version 0): not a value to serve.
    expect(reader.read(codec.packed(full))).toBeUndefined();
    expect(reader.read(good)).toBeDefined();
  });

  it('refuses an out-of-range number and a non-finite vector element', () => {
    const reader = codec.reader([f('n'), f('v')]);
    const blob = stamp(codec.packed(full));
    // Fixed slots follow the schema and one byte of presence bits: n, x, then v (schema order).
    const fixedAt = PACKED_HEADER_BYTES + 2 + blob.readUInt16LE(PACKED_HEADER_BYTES) + 1;
    const badInt = Buffer.from(blob);
    badInt.writeDoubleLE(1.5, fixedAt);
    expect(reader.read(badInt)).toBeUndefined();
    const badVector = Buffer.from(blob);
    badVector.writeFloatLE(Number.NaN, fixedAt + 16);
    expect(reader.read(badVector)).toBeUndefined();
    expect(reader.read(blob)?.values).toEqual([14, Float32Array.of(1, -2.5, 0.25)]);
  });

  it('never throws on garbage', () => {
    const reader = codec.reader(features);
    const header = stamp(codec.packed(full)).subarray(0, PACKED_HEADER_BYTES + 2 + 40);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, keepHeader) => {
        const blob = keepHeader ? Buffer.concat([header, bytes]) : Buffer.from(bytes);
        expect(() => reader.read(blob)).not.toThrow();
      }),
      { numRuns: 2_000 },
    );
  });

  it('a reader of a subset decodes just its features', () => {
    const read = codec.reader([f('v'), f('s')]).read(stamp(codec.packed(full)))!;
    expect(read.values).toEqual([Float32Array.of(1, -2.5, 0.25), 'm9']);
  });

  it('reads blobs wherever they sit in memory: slices of one reply buffer at odd offsets, and buffers of their own in turn', () => {
    // Buffer.alloc never shares Node's buffer pool: each of these owns its memory.
    const own = (...parts: Buffer[]) => {
      const out = Buffer.alloc(parts.reduce((n, p) => n + p.length, 0));
      Buffer.concat(parts).copy(out);
      return out;
    };
    const a = stamp(codec.packed(full), 7, 70);
    const b = stamp(codec.packed({ n: -3, x: 0.5, l: ['z'] }), 8, 80);
    // One buffer holding both blobs after a byte of padding, as a parsed reply holds its bulk strings.
    const reply = own(Buffer.from([0xff]), a, b);
    const sliced = [reply.subarray(1, 1 + a.length), reply.subarray(1 + a.length)];
    const reader = codec.reader(features);
    const expected = [reader.read(own(a)), reader.read(own(b))];
    expect(expected[1]).toEqual({ version: 8, updatedMs: 80, values: [-3, 0.5, undefined, ['z'], undefined, undefined] });
    for (const blob of [sliced[0]!, own(b), sliced[1]!, own(a), sliced[0]!]) {
      expect(reader.read(blob)).toEqual(expected[blob.equals(a) ? 0 : 1]);
    }
  });

  it("a reader whose registry differs from the writer's finds its features by name, never by offset", () => {
    // The writer's group lacks `m`, has `s` as a list and an extra feature; the reader wants the full group.
    const writer = parseRegistry({
      ...input,
      features: [
        input.features[1],
        { name: 'extra', source: 'tx', op: 'count', window: '1d', type: 'int', default: 0 },
        { ...input.features[3], name: 's' },
        input.features[0],
        input.features[4],
      ],
    });
    const blob = stamp(new GroupCodec(writer.featuresOf('user')).packed({ x: 2.5, extra: 7, s: ['a'], n: 3, v: Float32Array.of(0, 1, 2) }));
    const read = new PackedReader(features, features).read(blob)!;
    expect(read.values).toEqual([3, 2.5, undefined, undefined, Float32Array.of(0, 1, 2), undefined]);
  });

  it('decodes whole keys of every layout: a string key blob, a packed hash, a per-field hash', () => {
    const blob = stamp(codec.packed({ n: 3, l: ['a'] }), 42, 1000);
    const decoded = { version: 42, updatedMs: 1000, values: { n: 3, l: ['a'] }, corrupt: [] };
    expect(codec.decode(blob)).toEqual(decoded);
    expect(codec.decode({ [PACKED_FIELD]: blob })).toEqual(decoded);
    const fields = codec.decode({ _version: Buffer.from('42'), _updated_ms: Buffer.from('1000'), n: Buffer.from('3'), x: Buffer.from('zz') });
    expect(fields).toEqual({ version: 42, updatedMs: 1000, values: { n: 3 }, corrupt: ['x'] });
    expect(codec.decode(Buffer.from('garbage'))?.corrupt).toEqual(features.map((x) => x.name));
    expect(codec.decode({ [PACKED_FIELD]: Buffer.from('garbage') })?.corrupt).toEqual(features.map((x) => x.name));
    expect(codec.decode({})).toBeUndefined();
    expect(codec.decode(undefined)).toBeUndefined();
  });

  it('writes content in each layout as the Lua writers leave it', () => {
    const values = { n: 3, l: ['a'] };
    const blob = codec.content('packed', values, 42, 1000);
    expect(blob).toEqual(stamp(codec.packed(values), 42, 1000));
    expect(codec.content('packed-hash', values, 42, 1000)).toEqual({ [PACKED_FIELD]: blob });
    expect(codec.content('fields', values, 42, 1000)).toEqual({ _version: '42', _updated_ms: '1000', n: '3', l: 'a' });
  });

  it('the per-field writer sets present features and deletes lapsed ones', () => {
    expect(codec.fields({ n: 3, s: 'a' })).toEqual({ set: [['n', '3'], ['s', 'a']], del: ['x', 'l', 'v', 'm'] });
  });
});

describe('layout in the registry and the keyspace fingerprint', () => {
  it('defaults to packed, takes fields, and names the path of a bad value', () => {
    expect(registry.layout).toBe('packed');
    expect(parseRegistry({ ...input, layout: 'fields' }).layout).toBe('fields');
    expect(() => parseRegistry({ ...input, layout: 'columnar' })).toThrow(RegistryError);
    expect(() => parseRegistry({ ...input, layout: 'columnar' })).toThrow(/layout: /);
  });

  it('marks packed fingerprints, leaving per-field ones as they were, and knows packed hashes of older versions', () => {
    expect(fingerprintWithLayout('abc', 'fields')).toBe('abc');
    expect(fingerprintWithLayout('abc', 'packed')).toBe('abc+packed-string');
    expect(layoutOfFingerprint(fingerprintWithLayout('abc', 'packed'))).toBe('packed');
    expect(layoutOfFingerprint('abc+packed')).toBe('packed-hash');
    expect(layoutOfFingerprint('abc')).toBe('fields');
  });
});

describe('the reader over packed blobs', () => {
  const plan = planEntities(registry).get('user')!;

  it('serves an unreadable blob as its group defaults, counted corrupt; an absent one as missing', () => {
    const good = stamp(codec.packed(full));
    const truncated = good.subarray(0, good.length - 1);
    const badFormat = Buffer.from(good);
    badFormat[0] = 9;
    for (const bad of [truncated, badFormat, Buffer.from('garbage')]) {
      const counts = emptyCounts();
      const v = fromRedis(plan, [bad], 0, counts, 'packed')!;
      expect(v.source).toBe('redis');
      expect(v.values).toEqual(plan.defaults);
      expect(v.defaulted).toEqual(plan.featureNames);
      expect(counts).toEqual({ missing: 0, corrupt: features.length, unavailable: 0 });
    }
    const counts = emptyCounts();
    expect(fromRedis(plan, [null], 0, counts, 'packed')).toBeUndefined();
    const v = fromRedis(plan, [stamp(codec.packed({ n: 5 }), 7, 1234)], 0, counts, 'packed')!;
    expect(v).toMatchObject({ source: 'redis', version: 7, updatedMs: 1234 });
    expect(v.values[0]).toBe(5);
    expect(counts).toEqual({ missing: features.length - 1, corrupt: 0, unavailable: 0 });
  });
});
