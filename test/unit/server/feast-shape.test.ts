/**
 * The Feast-shaped answer written by hand (src/server/feast-shape.ts) is the
 * same text as JSON.stringify of Feast's column-wise object, built here the
 * obvious way: the join key column first, then one column per asked feature
 * with its values, statuses and timestamps.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { feastResponse, type FeastRequest } from '../../../src/server/feast-shape.ts';
import type { FeatureVector } from '../../../src/serving/types.ts';

const EPOCH = '1970-01-01T00:00:00Z';

function reference(request: FeastRequest, vectors: readonly FeatureVector[], nowMs: number): string {
  const stamp = (v: FeatureVector) => (v.ageMs === undefined ? EPOCH : new Date(nowMs - v.ageMs).toISOString());
  const column = (feature: string) => ({
    values: vectors.map((v) => {
      const x = v.features[feature];
      return x instanceof Float32Array ? Array.from(x) : x;
    }),
    statuses: vectors.map((v) => (v.defaulted.includes(feature) ? 'NOT_FOUND' : 'PRESENT')),
    event_timestamps: vectors.map((v) => (v.defaulted.includes(feature) ? EPOCH : stamp(v))),
  });
  return JSON.stringify({
    metadata: { feature_names: [request.joinKey, ...request.refs.map((r) => (request.fullFeatureNames ? `${r.view}__${r.feature}` : r.feature))] },
    results: [
      { values: request.keys, statuses: request.keys.map(() => 'PRESENT'), event_timestamps: request.keys.map(() => EPOCH) },
      ...request.refs.map((r) => column(r.feature)),
    ],
  });
}

const NAMES = ['count', 'sum', 'list', 'embedding', 'name', 'flag', 'gone'];
const value = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.string({ unit: 'binary' }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.array(fc.string()),
  fc.float32Array({ maxLength: 4 }),
);
const vector = fc.record({
  entityId: fc.string(),
  features: fc.dictionary(fc.constantFrom(...NAMES), value),
  source: fc.constantFrom('redis' as const, 'dynamodb' as const, 'default' as const, 'cache' as const),
  defaulted: fc.subarray(NAMES),
  ageMs: fc.option(fc.integer({ min: 0, max: 1e9 }), { nil: undefined }),
});

describe('feastResponse', () => {
  it('writes what JSON.stringify writes of the column-wise object', () => {
    fc.assert(
      fc.property(
        fc.array(vector, { minLength: 1, maxLength: 8 }),
        fc.subarray(NAMES, { minLength: 1 }),
        fc.boolean(),
        fc.boolean(),
        (vectors, features, full, integerKeys) => {
          const keys = vectors.map((v, i) => (integerKeys ? i * 1_000_003 : v.entityId));
          const request: FeastRequest = {
            entity: 'user',
            joinKey: 'user_id',
            keys,
            ids: keys.map(String),
            refs: features.map((feature) => ({ view: 'user_features', feature })),
            fullFeatureNames: full,
          };
          const nowMs = 1_796_000_000_000;
          expect(feastResponse(request, vectors as FeatureVector[], nowMs).toString('utf8')).toBe(reference(request, vectors as FeatureVector[], nowMs));
        },
      ),
    );
  });
});
