import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRegistry, type ResolvedFeature } from '../../src/schemas/registry.ts';
import { decodeFeatureValue, encodeFeatureValue, plainDecimal } from '../../src/stores/codec.ts';

const registry = parseRegistry({
  entities: [{ name: 'user' }],
  sources: [
    { name: 'tx', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: 'transactions' },
    { name: 'emb', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: 'embeddings' },
  ],
  features: [
    { name: 'n', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0 },
    { name: 'x', source: 'tx', op: 'sum', field: 'amount', window: '1h', type: 'float', default: 0 },
    { name: 's', source: 'tx', op: 'last', field: 'merchant_id', type: 'string', default: null, freshness: '1h' },
    { name: 'l', source: 'tx', op: 'last_k', field: 'merchant_id', k: 3, type: 'string_list', default: [], freshness: '1h' },
    { name: 'v', source: 'emb', op: 'last', field: 'embedding', type: 'vector', dim: 3, default: null, freshness: '1d' },
  ],
});
const f = (name: string): ResolvedFeature => registry.feature(name)!;
const roundTrip = (name: string, value: Parameters<typeof encodeFeatureValue>[1]) => decodeFeatureValue(f(name), encodeFeatureValue(f(name), value));

describe('feature value codec', () => {
  it('stores numbers as plain decimals, ints as ints', () => {
    expect(encodeFeatureValue(f('n'), 14)).toBe('14');
    expect(encodeFeatureValue(f('x'), 892.5)).toBe('892.5');
    expect(encodeFeatureValue(f('x'), 3)).toBe('3');
    expect(encodeFeatureValue(f('x'), -0)).toBe('0');
    expect(plainDecimal(1.5e-7)).toBe('0.00000015');
    expect(plainDecimal(-1e21)).toBe('-1000000000000000000000');
    expect(plainDecimal(1.2345e22)).toBe('12345000000000000000000');
  });

  it('round-trips every finite float exactly, never in exponent notation', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const raw = encodeFeatureValue(f('x'), x) as string;
        expect(raw).toMatch(/^-?\d+(\.\d+)?$/);
        expect(decodeFeatureValue(f('x'), raw)).toEqual({ ok: true, value: x + 0 });
      }),
    );
  });

  it('joins string lists with \\x1f, empty list as ""', () => {
    expect(encodeFeatureValue(f('l'), ['m1', 'm2'])).toBe('m1\x1fm2');
    expect(roundTrip('l', [])).toEqual({ ok: true, value: [] });
    expect(roundTrip('l', ['a b', 'ü'])).toEqual({ ok: true, value: ['a b', 'ü'] });
    expect(() => encodeFeatureValue(f('l'), ['a\x1fb'])).toThrow(TypeError);
  });

  it('packs vectors as little-endian float32', () => {
    const raw = encodeFeatureValue(f('v'), Float32Array.of(1, -2.5, 0.25)) as Buffer;
    expect(raw.toString('hex')).toBe('0000803f000020c00000803e');
    expect(decodeFeatureValue(f('v'), raw)).toEqual({ ok: true, value: Float32Array.of(1, -2.5, 0.25) });
    expect(() => encodeFeatureValue(f('v'), Float32Array.of(1, 2))).toThrow(TypeError);
  });

  it('decodes Buffers and strings alike', () => {
    expect(decodeFeatureValue(f('n'), Buffer.from('42'))).toEqual({ ok: true, value: 42 });
    expect(decodeFeatureValue(f('s'), Buffer.from('m9'))).toEqual({ ok: true, value: 'm9' });
  });

  it.each([
    ['n', undefined],
    ['n', null],
    ['n', '1.5'],
    ['n', '12abc'],
    ['n', '99999999999999999'],
    ['x', 'NaN'],
    ['x', 'Infinity'],
    ['x', ''],
    ['x', '1,5'],
    ['l', 'a\x1f\x1fb'],
    ['v', Buffer.alloc(8)],
    ['v', 'abc'],
    ['v', Buffer.from('0000c07f0000803f0000803f', 'hex')],
  ])('%s: %j is missing or corrupt', (name, raw) => {
    expect(decodeFeatureValue(f(name), raw as string | Buffer | null | undefined)).toEqual({ ok: false });
  });

  it('refuses values that do not fit the type', () => {
    expect(() => encodeFeatureValue(f('n'), 1.5)).toThrow(TypeError);
    expect(() => encodeFeatureValue(f('x'), Number.NaN)).toThrow(TypeError);
    expect(() => encodeFeatureValue(f('s'), null)).toThrow(TypeError);
  });
});
