import { describe, expect, it } from 'vitest';
import { parseRegistry } from '../../../src/schemas/registry.ts';
import { itemToVector } from '../../../src/stores/dynamo-item.ts';
import { Keys } from '../../../src/stores/keys.ts';
import { ITEM_ATTRIBUTES } from '../../../src/stores/dynamo-item.ts';
import { itemOffsets, MAX_STATE_BYTES, snapshotToItem } from '../../../src/sync/item.ts';
import type { EntitySnapshot } from '../../../src/sync/snapshot.ts';

const registry = parseRegistry({
  entities: [{ name: 'user' }],
  sources: [{ name: 'tx', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: 'embeddings' }],
  features: [
    { name: 'n', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0 },
    { name: 'avg', source: 'tx', op: 'avg', field: 'embedding', window: '1h', type: 'float', default: 0 },
    { name: 'last_ts', source: 'tx', op: 'last_time', type: 'int', default: 0, freshness: '1h' },
  ],
});
const features = registry.featuresOf('user');
const keys = new Keys({ prefix: 'p:' });
const ref = { entityType: 'user', entityId: 'u1' };

function snapshot(state?: Uint8Array): EntitySnapshot {
  return {
    vector: { features: { n: 3, avg: 1.5 }, version: 7, updatedMs: 1_000, expiresAtMs: 5_500, ...(state ? { state } : {}) },
    offsets: new Map([['o:tx:2', 41]]),
  };
}

describe('snapshotToItem', () => {
  it('maps a snapshot onto the shared item layout, lapsed features absent', () => {
    const { item, stateOmitted } = snapshotToItem(keys, ref, 2, snapshot(new Uint8Array([1, 2, 3])), features);
    expect(stateOmitted).toBe(false);
    expect(item).toEqual({
      pk: { S: 'p:v2#user#u1' },
      version: { N: '7' },
      updated_ms: { N: '1000' },
      expires_at: { N: '6' },
      state: { B: new Uint8Array([1, 2, 3]) },
      n: { N: '3' },
      avg: { N: '1.5' },
      [ITEM_ATTRIBUTES.offsets]: { M: { 'o:tx:2': { N: '41' } } },
    });
    const back = itemToVector(item, features, 0)!;
    expect(back.features).toEqual({ n: 3, avg: 1.5 });
    expect(back.version).toBe(7);
    expect(itemOffsets(item)).toEqual(new Map([['o:tx:2', 41]]));
  });

  it('leaves out state (and its offsets) that would break the 400 KB item limit', () => {
    const { item, stateOmitted } = snapshotToItem(keys, ref, 1, snapshot(new Uint8Array(MAX_STATE_BYTES + 1)), features);
    expect(stateOmitted).toBe(true);
    expect(item.state).toBeUndefined();
    expect(item[ITEM_ATTRIBUTES.offsets]).toBeUndefined();
    expect(item.n).toEqual({ N: '3' });
  });

  it('writes no state and no offsets when the entity has none', () => {
    const { item, stateOmitted } = snapshotToItem(keys, ref, 1, snapshot(), features);
    expect(stateOmitted).toBe(false);
    expect(Object.keys(item).sort()).toEqual(['avg', 'expires_at', 'n', 'pk', 'updated_ms', 'version']);
  });
});

describe('itemOffsets', () => {
  it('drops malformed entries', () => {
    expect(itemOffsets({ [ITEM_ATTRIBUTES.offsets]: { M: { a: { N: '5' }, b: { N: 'x' }, c: { S: '1' } } } })).toEqual(new Map([['a', 5]]));
    expect(itemOffsets({})).toEqual(new Map());
  });
});
