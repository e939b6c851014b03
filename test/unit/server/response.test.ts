/**
 * The `POST /features` answer written by hand (src/server/response.ts) is the
 * same text as JSON.stringify of the wire object, built here the obvious way
 * (typed arrays as plain arrays): every value type, awkward strings and
 * numbers, missing ages, defaulted lists, undefined values.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { vectorsJson as vectorsBytes } from '../../../src/server/response.ts';
import type { FeatureVector } from '../../../src/serving/types.ts';

function reference(vectors: readonly FeatureVector[]): string {
  return JSON.stringify({
    vectors: vectors.map((v) => ({
      entity_id: v.entityId,
      features: Object.fromEntries(Object.entries(v.features).map(([k, x]) => [k, x instanceof Float32Array ? Array.from(x) : x])),
      source: v.source,
      defaulted: v.defaulted,
      age_ms: v.ageMs ?? null,
    })),
  });
}

const vectorsJson = (vectors: readonly FeatureVector[]): string => vectorsBytes(vectors).toString('utf8');

const vector = (entityId: string, features: Record<string, unknown>, extra: Partial<FeatureVector> = {}): FeatureVector => ({
  entityId,
  features,
  source: 'redis',
  defaulted: [],
  ageMs: 12,
  ...extra,
});

describe('vectorsJson', () => {
  it('writes what JSON.stringify writes for every value type', () => {
    const vectors = [
      vector('u1', {
        count: 3,
        sum: 892.5,
        big: 1.7e21,
        tiny: 5e-324,
        negZero: -0,
        nan: Number.NaN,
        inf: Number.POSITIVE_INFINITY,
        flag: true,
        off: false,
        nothing: null,
        gone: undefined,
        name: 'a "quoted" \\ back\nslash \u2028 \ud800 é',
        list: Object.freeze(['m1', 'm"2', '']),
        empty: Object.freeze([]),
        embedding: new Float32Array([0.1, -2.5, Number.NaN, 3e38]),
        noEmbedding: new Float32Array(0),
        nested: { a: [1, 'b'] },
      }),
      vector('u|2 "x"', { count: 0 }, { source: 'default', defaulted: ['count', 'we"ird'], ageMs: undefined }),
      vector('u3', {}, { source: 'cache', ageMs: 0.25 }),
      vector('u4', { 'odd "name"': 1 }, { ageMs: Number.NaN }),
    ];
    expect(vectorsJson(vectors)).toBe(reference(vectors));
    expect(JSON.parse(vectorsJson(vectors))).toEqual(JSON.parse(reference(vectors)));
  });

  it('writes an empty batch', () => {
    expect(vectorsJson([])).toBe(reference([]));
  });
});

describe('vectorsJson on shared records', () => {
  it('writes a frozen record the same every time, and a mutable one as it is now', () => {
    const frozen = Object.freeze({ count: 1, list: Object.freeze(['a']) });
    const first = vectorsJson([vector('u1', frozen)]);
    expect(vectorsJson([vector('u1', frozen, { source: 'cache', ageMs: 99 })])).toBe(reference([vector('u1', frozen, { source: 'cache', ageMs: 99 })]));
    expect(first).toBe(reference([vector('u1', frozen)]));

    const mutable: Record<string, unknown> = { count: 1 };
    vectorsJson([vector('u2', mutable)]);
    mutable.count = 2;
    expect(vectorsJson([vector('u2', mutable)])).toBe(reference([vector('u2', mutable)]));

    // A frozen record holding a typed array: its elements can still change.
    const embedding = new Float32Array([1, 2]);
    const withVector = Object.freeze({ embedding });
    vectorsJson([vector('u3', withVector)]);
    embedding[0] = 5;
    expect(vectorsJson([vector('u3', withVector)])).toBe(reference([vector('u3', withVector)]));
  });
});

describe('vectorsJson on a record served again', () => {
  it('writes the id, source, defaulted list and age of each vector, not those it was first written with', () => {
    const frozen = Object.freeze({ count: 1 });
    // Frozen lists, as the reader serves them: only then is a vector's head kept.
    const none = Object.freeze([]);
    const served = (entityId: string, extra: Partial<FeatureVector> = {}) => vector(entityId, frozen, { defaulted: none, ...extra });
    const variants = [
      // Each differs from the one before in one thing.
      served('u1'),
      served('u2'),
      served('u2', { ageMs: 40 }),
      served('u2', { ageMs: undefined }),
      served('u2', { source: 'cache' }),
      served('u1', { defaulted: Object.freeze(['count']) }),
      served('u1', { defaulted: Object.freeze(['other']) }),
    ];
    for (const v of [...variants, ...variants.reverse()]) expect(vectorsJson([v])).toBe(reference([v]));
    expect(vectorsJson(variants)).toBe(reference(variants));
  });

  it('writes a defaulted list that is not frozen as it is now', () => {
    const frozen = Object.freeze({ count: 1 });
    const defaulted = ['count'];
    vectorsJson([vector('u1', frozen, { defaulted })]);
    defaulted.push('more');
    expect(vectorsJson([vector('u1', frozen, { defaulted })])).toBe(reference([vector('u1', frozen, { defaulted })]));
  });
});

describe('vectorsJson bytes', () => {
  it('writes integers, doubles and strings of any size and alphabet as JSON.stringify does', () => {
    const value = fc.oneof(
      fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
      fc.double(),
      fc.string({ unit: 'binary' }),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.string({ unit: 'grapheme' })),
      fc.array(fc.oneof(fc.integer(), fc.string({ unit: 'binary' }))),
      fc.float32Array(),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ unit: 'binary' }), fc.dictionary(fc.string({ unit: 'binary' }), value))), (rows) => {
        const vectors = rows.map(([id, features]) => vector(id, features));
        expect(vectorsJson(vectors)).toBe(reference(vectors));
      }),
    );
  });

  it('grows past its first buffer, and an answer already taken keeps its bytes', () => {
    const big = Array.from({ length: 2_000 }, (_, i) => vector(`u${i}`, { embedding: new Float32Array(16).fill(i / 3), name: `é${i}` }));
    const first = vectorsBytes(big);
    const copy = Buffer.from(first);
    expect(first.length).toBeGreaterThan(64 * 1024);
    expect(first.toString('utf8')).toBe(reference(big));
    vectorsBytes([vector('other', { count: 1 })]);
    expect(first.equals(copy)).toBe(true);
    // One value larger than twice the buffer so far.
    const huge = [vector('huge', { name: 'x'.repeat(3_000_000) })];
    expect(vectorsJson(huge)).toBe(reference(huge));
    // The next answer starts on a fresh small buffer again.
    const small = [vector('u1', { count: 2 })];
    expect(vectorsJson(small)).toBe(reference(small));
  });
});

describe('vectorsJson answers as views of one slab', () => {
  it('keeps the bytes of every answer still held while later ones fill this slab and the next', () => {
    const batches = Array.from({ length: 40 }, (_, b) => Array.from({ length: 100 }, (_, i) => vector(`u${b}-${i}`, { n: b * 1_000 + i, sum: i / 4, list: ['m1', `é${b}`] })));
    const held = batches.map((batch) => vectorsBytes(batch));
    batches.forEach((batch, b) => expect(held[b]!.toString('utf8')).toBe(reference(batch)));
  });
});

describe('vectorsJson numbers written from their digits', () => {
  const one = (x: number): string => vectorsJson([vector('u', { x })]);

  it('writes decimals of up to seven places, of any size, as JSON.stringify does', () => {
    const decimal = fc
      .tuple(fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }), fc.integer({ min: 0, max: 7 }))
      .map(([k, places]) => k / 10 ** places);
    fc.assert(
      fc.property(decimal, (x) => {
        expect(one(x)).toBe(reference([vector('u', { x })]));
      }),
      { numRuns: 5_000 },
    );
  });

  it('writes the edges of the digit path and the numbers JSON has no literal for as JSON.stringify does', () => {
    const edges = [
      0.1 + 0.2, 1e-6, -1e-6, 1e-7, 5e-7, 4e-7, -4e-7, 0.5, -0.5, 892.5, 3120.75, 63.4, 0.000001, 0.0000015, 0.1234565,
      999_999_999.999999, 1e9 - 1e-6, 1e9, -1e9, 1e9 + 0.5, 123_456_789.123456, 1_125_899_906.842624, 2 ** 30 + 2 ** -22, 1e21, 1.5e21,
      Number.MIN_VALUE, Number.MAX_VALUE, Number.EPSILON, -0, 0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY,
    ];
    for (const x of edges) expect(one(x), String(x)).toBe(reference([vector('u', { x })]));
  });

  it("parses back to the reference's value for every feature type, unicode ids and escapes", () => {
    const vectors = [
      vector('ü-😀-\u0000-"q"-\\', {
        tx_count_1h: 14,
        tx_sum_1h: 892.5,
        avg_tx_90d: 63.4,
        ratio: 1 / 3,
        created_at: 1_717_171_717_171,
        neg: -42.125,
        nan: Number.NaN,
        inf: Number.NEGATIVE_INFINITY,
        recent_merchants: ['m1', 'ñ', 'tab\there', '\ud83d'],
        label: 'línea\u2028nueva',
        is_premium: true,
        missing: null,
        embedding: new Float32Array([0.5, Number.NaN, Number.POSITIVE_INFINITY, 1e-7]),
      }),
      // The same names in another order, one left out and one new: each still gets its own key.
      vector('日本', { avg_tx_90d: 1.25, tx_count_1h: 2, other: 'x', tx_sum_1h: -0.75 }, { source: 'dynamodb', defaulted: ['tx_sum_1h'] }),
      vector('u3', { tx_sum_1h: 7, tx_count_1h: 3.5 }, { source: 'default', ageMs: undefined }),
    ];
    const text = vectorsJson(vectors);
    expect(JSON.parse(text)).toStrictEqual(JSON.parse(reference(vectors)));
    expect(text).toBe(reference(vectors));
  });
});
