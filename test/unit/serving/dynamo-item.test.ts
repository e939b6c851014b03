import { describe, expect, it } from 'vitest';
import { RegistryError } from '../../../src/errors.ts';
import { Keys } from '../../../src/stores/keys.ts';
import { itemToVector, packFloat32, readerProjection, unpackFloat32, vectorToItem, type ItemFeature } from '../../../src/stores/dynamo-item.ts';

const features: ItemFeature[] = [
  { name: 'tx_count_1h', type: 'int' },
  { name: 'tx_sum_1h', type: 'float' },
  { name: 'country', type: 'string' },
  { name: 'last_merchants', type: 'string_list' },
  { name: 'embedding', type: 'vector' },
];
const keys = new Keys({ prefix: 't:' });
const ref = { entityType: 'user', entityId: 'u1' };
const now = 1_700_000_000_000;

describe('DynamoDB item layout', () => {
  it('round-trips every feature type with native attributes', () => {
    const item = vectorToItem(keys, ref, 1, {
      features: { tx_count_1h: 14, tx_sum_1h: 892.5, country: 'FR', last_merchants: ['m1', 'm2'], embedding: new Float32Array([0.5, -1.25]) },
      version: 7,
      updatedMs: now,
      expiresAtMs: now + 1_500,
      state: new Uint8Array([1, 2, 3]),
    }, features);
    expect(item).toMatchObject({
      pk: { S: 't:user#u1' },
      tx_count_1h: { N: '14' },
      tx_sum_1h: { N: '892.5' },
      country: { S: 'FR' },
      last_merchants: { L: [{ S: 'm1' }, { S: 'm2' }] },
      version: { N: '7' },
      updated_ms: { N: String(now) },
      expires_at: { N: String(Math.ceil((now + 1_500) / 1000)) },
    });
    expect(item.embedding?.B).toEqual(new Uint8Array([0, 0, 0, 0x3f, 0, 0, 0xa0, 0xbf]));
    const back = itemToVector(item, features, now)!;
    expect(back.features).toEqual({ tx_count_1h: 14, tx_sum_1h: 892.5, country: 'FR', last_merchants: ['m1', 'm2'], embedding: new Float32Array([0.5, -1.25]) });
    expect(back.corrupt).toEqual([]);
    expect(back.version).toBe(7);
    expect(back.updatedMs).toBe(now);
    expect(back.state).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('leaves lapsed features out and uses the keyspace version in pk', () => {
    const item = vectorToItem(keys, ref, 2, { features: { tx_count_1h: null }, version: 1, updatedMs: now, expiresAtMs: now }, features);
    expect(item.pk).toEqual({ S: 't:v2#user#u1' });
    expect('tx_count_1h' in item).toBe(false);
  });

  it('treats an expired item as missing', () => {
    const item = vectorToItem(keys, ref, 1, { features: { tx_count_1h: 1 }, version: 1, updatedMs: now, expiresAtMs: now + 1_000 }, features);
    expect(itemToVector(item, features, now + 1_000)).toBeDefined();
    expect(itemToVector(item, features, now + 1_001)).toBeUndefined();
  });

  it('lists attributes of the wrong type or shape as corrupt instead of throwing', () => {
    const back = itemToVector(
      {
        pk: { S: 'user#u1' },
        tx_count_1h: { N: '1.5' },
        tx_sum_1h: { S: 'x' },
        country: { N: '3' },
        last_merchants: { L: [{ N: '1' }] },
        embedding: { B: new Uint8Array(3) },
      },
      features,
      now,
    )!;
    expect(back.corrupt.sort()).toEqual(['country', 'embedding', 'last_merchants', 'tx_count_1h', 'tx_sum_1h']);
    expect(back.version).toBeUndefined();
  });

  it('refuses feature names that collide with reserved attributes', () => {
    expect(() =>
      vectorToItem(keys, ref, 1, { features: {}, version: 1, updatedMs: now, expiresAtMs: now }, [{ name: 'version', type: 'int' }]),
    ).toThrow(RegistryError);
  });

  it('packs float32 little-endian from unaligned buffers too', () => {
    const bytes = new Uint8Array(9);
    bytes.set(packFloat32([1, 2]), 1);
    expect(unpackFloat32(bytes.subarray(1))).toEqual(new Float32Array([1, 2]));
  });

  it('projects features and metadata but not the window state', () => {
    const p = readerProjection(features.slice(0, 1));
    expect(p.expression).toBe('#a0, #a1, #a2, #a3, #a4');
    expect(Object.values(p.names)).toEqual(['pk', 'version', 'updated_ms', 'expires_at', 'tx_count_1h']);
  });
});
