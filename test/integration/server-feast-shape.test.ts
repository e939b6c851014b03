/**
 * The feature server's Feast-shaped route (`POST /get-online-features`,
 * src/server/feast-shape.ts) against a real server and a real Redis: Feast's
 * column-wise response with statuses and timestamps, full feature names,
 * integer join keys, and a 400 naming the problem for every bad shape.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { Registry as MetricsRegistry } from 'prom-client';
import { createLogger } from '../../src/logger.ts';
import { createFeatureReader } from '../../src/index.ts';
import { createFeatureServer, type FeatureServerOptions } from '../../src/server/server.ts';
import { Keys } from '../../src/stores/keys.ts';
import { randomName } from '../helpers/names.ts';
import { onCluster, testRedisClient } from '../helpers/services.ts';
import { seedUsers, testConfig } from './reader-fixtures.ts';

const EPOCH = '1970-01-01T00:00:00Z';
const WRITTEN_MS = Date.parse('2026-01-02T03:04:05.678Z');

interface FeastResponse {
  metadata: { feature_names: string[] };
  results: Array<{ values: unknown[]; statuses: string[]; event_timestamps: string[] }>;
}

async function serve(extra: Partial<FeatureServerOptions> = {}) {
  const prefix = `${randomName('fs-feast-shape')}:`;
  const redis = await testRedisClient(prefix);
  const keys = new Keys({ prefix, hashTags: onCluster() });
  await seedUsers(
    redis,
    keys,
    [
      ['u1', { tx_count_1h: 3, recent_merchants: ['m1'], country: 'fr', embedding: new Float32Array([0.5, 1]) }],
      ['7', { tx_count_1h: 5 }],
    ],
    { updatedMs: WRITTEN_MS, ttlMs: 600_000 },
  );
  const reader = createFeatureReader({ registry: testConfig, redis, dynamodb: false, keys, metrics: new MetricsRegistry(), deadlineMs: 1_000 });
  const server = createFeatureServer({ reader, metrics: new MetricsRegistry(), logger: createLogger({ level: 'silent' }), ...extra });
  const port = await server.listen(0);
  onTestFinished(() => server.close());
  const url = `http://127.0.0.1:${port}/get-online-features`;
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(url, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
  return { url, post };
}

describe('feature server, Feast request shape', () => {
  it("answers in Feast's column-wise shape: join key first, then each feature in request order, with statuses and timestamps", async () => {
    const { post } = await serve();
    const before = Date.now();
    const res = await post({
      features: ['velocity:tx_count_1h', 'velocity:recent_merchants', 'profile:embedding', 'profile:country'],
      entities: { user_id: ['u1', 'u2'] },
    });
    const after = Date.now();
    expect(res.status).toBe(200);
    const body = (await res.json()) as FeastResponse;
    expect(Object.keys(body).sort()).toEqual(['metadata', 'results']);
    expect(body.metadata.feature_names).toEqual(['user_id', 'tx_count_1h', 'recent_merchants', 'embedding', 'country']);
    expect(body.results[0]).toEqual({ values: ['u1', 'u2'], statuses: ['PRESENT', 'PRESENT'], event_timestamps: [EPOCH, EPOCH] });
    // u2 has nothing stored: registry defaults, NOT_FOUND, the epoch.
    const columns = body.results.slice(1);
    expect(columns.map((c) => c.values)).toEqual([
      [3, 0],
      [['m1'], []],
      [
        [0.5, 1],
        [0, 0],
      ],
      ['fr', 'unknown'],
    ]);
    for (const c of columns) {
      expect(Object.keys(c).sort()).toEqual(['event_timestamps', 'statuses', 'values']);
      expect(c.statuses).toEqual(['PRESENT', 'NOT_FOUND']);
      expect(c.event_timestamps[1]).toBe(EPOCH);
      // now - age, where the server's now falls within the request: the write time, shifted by at most the request's duration.
      const written = Date.parse(c.event_timestamps[0]!);
      expect(written).toBeGreaterThanOrEqual(WRITTEN_MS);
      expect(written).toBeLessThanOrEqual(WRITTEN_MS + (after - before));
    }
  });

  it('names features view__feature with full_feature_names, echoes integer join keys, and marks unstored features NOT_FOUND', async () => {
    const { post } = await serve();
    const res = await post({ features: ['velocity:tx_count_1h', 'profile:country'], entities: { user_id: [7] }, full_feature_names: true });
    expect(res.status).toBe(200);
    const body = (await res.json()) as FeastResponse;
    expect(body.metadata.feature_names).toEqual(['user_id', 'velocity__tx_count_1h', 'profile__country']);
    expect(body.results.map((r) => r.values)).toEqual([[7], [5], ['unknown']]);
    expect(body.results.map((r) => r.statuses)).toEqual([['PRESENT'], ['PRESENT'], ['NOT_FOUND']]);
  });

  it('answers bad shapes with a 400 naming the problem, oversized bodies with a 413, other methods with a 405', async () => {
    const { post, url } = await serve({ maxIds: 3, bodyLimitBytes: 2_000 });
    const ok = { features: ['velocity:tx_count_1h'], entities: { user_id: ['u1'] } };
    const cases: Array<[unknown, string, RegExp]> = [
      ['{"features": [', 'BAD_JSON', /not valid JSON/],
      [[1], 'BAD_REQUEST', /JSON object/],
      [{ ...ok, features: [] }, 'BAD_REQUEST', /"features" must be a non-empty array/],
      [{ ...ok, features: ['tx_count_1h'] }, 'BAD_REQUEST', /"features\[0\]" must look like "view:feature", got "tx_count_1h"/],
      [{ ...ok, features: ['velocity:tx_count_1h', 3] }, 'BAD_REQUEST', /"features\[1\]" must look like "view:feature", got 3/],
      [{ ...ok, features: ['velocity:tx_count_1h', 'other:tx_count_1h'] }, 'BAD_REQUEST', /"features\[1\]": feature "tx_count_1h" is asked for twice/],
      [{ ...ok, features: ['velocity:nope'] }, 'CONFIG_INVALID', /"nope" is not a feature/],
      [{ ...ok, feature_service: 'fraud' }, 'BAD_REQUEST', /"feature_service" is not supported/],
      [{ ...ok, full_feature_names: 'yes' }, 'BAD_REQUEST', /"full_feature_names" must be true or false/],
      [{ features: ok.features }, 'BAD_REQUEST', /"entities" must be an object/],
      [{ ...ok, entities: {} }, 'BAD_REQUEST', /exactly one join key, got 0/],
      [{ ...ok, entities: { user_id: ['u1'], merchant_id: ['m1'] } }, 'BAD_REQUEST', /exactly one join key, got 2 \(user_id, merchant_id\)/],
      [{ ...ok, entities: { user_id: [] } }, 'BAD_REQUEST', /"entities.user_id" must be a non-empty array/],
      [{ ...ok, entities: { user_id: ['u1', 'u2', 'u3', 'u4'] } }, 'BAD_REQUEST', /"entities.user_id" has 4 entries; the limit is 3/],
      [{ ...ok, entities: { user_id: ['u1', 1.5] } }, 'BAD_REQUEST', /"entities.user_id"\[1\] must be a string or an integer, got 1.5/],
      [{ ...ok, entities: { user_id: ['u1', 'a b'] } }, 'ENTITY_ID_INVALID', /join key "user_id".*"a b"/],
      [{ ...ok, entities: { account_id: ['a1'] } }, 'NOT_FOUND', /join key "account_id" \(entity "account"\).*unknown entity type "account"/],
    ];
    for (const [body, code, message] of cases) {
      const res = await post(body);
      const text = JSON.stringify(body);
      expect(res.status, text).toBe(400);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code, text).toBe(code);
      expect(error.message, text).toMatch(message);
    }
    const big = await post({ ...ok, pad: 'x'.repeat(5_000) });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe('TOO_LARGE');
    const get = await fetch(url);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });

  it('sits behind the bearer token like every other route', async () => {
    const { post } = await serve({ token: 's3cret-token-for-feast' });
    const body = { features: ['velocity:tx_count_1h'], entities: { user_id: ['u1'] } };
    expect((await post(body)).status).toBe(401);
    const res = await post(body, { authorization: 'Bearer s3cret-token-for-feast' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as FeastResponse).results[1]!.values).toEqual([3]);
  });
});
