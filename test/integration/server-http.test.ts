/**
 * The HTTP feature server (`featurestream serve`) against real stores: the
 * vectors it serves, the 400s / 413 / 401 it answers bad requests with, its
 * deadline with Redis stopped, and a graceful shutdown that lets a request in
 * flight finish.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Registry as MetricsRegistry } from 'prom-client';
import { createLogger } from '../../src/logger.ts';
import { createFeatureReader, type FeatureReader } from '../../src/index.ts';
import { createFeatureServer, type FeatureServerOptions } from '../../src/server/server.ts';
import { Keys } from '../../src/stores/keys.ts';
import { randomName } from '../helpers/names.ts';
import { privateRedis } from '../helpers/private-services.ts';
import { onCluster, testRedisClient } from '../helpers/services.ts';
import { seedUsers, testConfig } from './reader-fixtures.ts';

const logger = createLogger({ level: 'silent' });

async function serve(reader: FeatureReader, extra: Partial<FeatureServerOptions> = {}) {
  const metrics = new MetricsRegistry();
  const server = createFeatureServer({ reader, metrics, logger, ...extra });
  const port = await server.listen(0);
  let closed = false;
  onTestFinished(async () => {
    if (!closed) await server.close();
  });
  const url = `http://127.0.0.1:${port}`;
  const post = (body: string, headers: Record<string, string> = {}) => fetch(`${url}/features`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  return { server, url, post, close: async () => ((closed = true), await server.close()) };
}

async function seededReader() {
  const prefix = `${randomName('fs-server')}:`;
  const redis = await testRedisClient(prefix);
  const keys = new Keys({ prefix, hashTags: onCluster() });
  await seedUsers(redis, keys, [['u1', { tx_count_1h: 3, recent_merchants: ['m1'], embedding: new Float32Array([0.5, 1]) }]]);
  return createFeatureReader({ registry: testConfig, redis, dynamodb: false, keys, metrics: new MetricsRegistry(), deadlineMs: 1_000 });
}

describe('feature server', () => {
  it('serves vectors as JSON, with /healthz, /readyz and /metrics', async () => {
    const { post, url } = await serve(await seededReader());
    const res = await post(JSON.stringify({ entity: 'user', ids: ['u1', 'u2'] }));
    expect(res.status).toBe(200);
    const { vectors } = (await res.json()) as { vectors: Array<Record<string, unknown>> };
    expect(vectors[0]).toMatchObject({ entity_id: 'u1', source: 'redis', features: { tx_count_1h: 3, recent_merchants: ['m1'], embedding: [0.5, 1] } });
    expect(vectors[1]).toMatchObject({ entity_id: 'u2', source: 'default', age_ms: null });

    const subset = await post(JSON.stringify({ entity: 'user', ids: ['u1'], features: ['tx_count_1h'] }));
    expect(((await subset.json()) as { vectors: Array<{ features: unknown }> }).vectors[0]!.features).toEqual({ tx_count_1h: 3 });

    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const metrics = await fetch(`${url}/metrics`);
    expect(metrics.status).toBe(200);
  });

  it('answers bad requests with a 400 naming the problem, oversized bodies with a 413', async () => {
    const { post } = await serve(await seededReader(), { maxIds: 3, bodyLimitBytes: 2_000 });
    const cases: Array<[string, string, RegExp]> = [
      ['{"entity": "user", "ids": [', 'BAD_JSON', /not valid JSON/],
      ['[1, 2]', 'BAD_REQUEST', /JSON object/],
      ['{"entity": "account", "ids": ["u1"]}', 'NOT_FOUND', /unknown entity type "account"/],
      ['{"entity": "user", "ids": ["u1", "a b"]}', 'ENTITY_ID_INVALID', /"a b"/],
      ['{"entity": "user", "ids": ["u1", "u2", "u3", "u4"]}', 'BAD_REQUEST', /4 entries; the limit is 3/],
      ['{"entity": "user", "ids": []}', 'BAD_REQUEST', /must not be empty/],
      ['{"entity": "user", "ids": [1]}', 'BAD_REQUEST', /"ids" must be an array of strings/],
      ['{"entity": "user", "ids": ["u1"], "features": ["nope"]}', 'CONFIG_INVALID', /"nope" is not a feature/],
    ];
    for (const [body, code, message] of cases) {
      const res = await post(body);
      expect(res.status, body).toBe(400);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code, body).toBe(code);
      expect(error.message, body).toMatch(message);
    }
    const big = await post(JSON.stringify({ entity: 'user', ids: ['u1'], pad: 'x'.repeat(5_000) }));
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe('TOO_LARGE');
  });

  it('requires the bearer token when one is configured (401 without it; /healthz stays open)', async () => {
    const { post, url } = await serve(await seededReader(), { token: 's3cret-token' });
    const body = JSON.stringify({ entity: 'user', ids: ['u1'] });
    expect((await post(body)).status).toBe(401);
    const wrong = await post(body, { authorization: 'Bearer s3cret-tokem' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer');
    expect((await post(body, { authorization: 'Basic s3cret-token' })).status).toBe(401);
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    expect((await post(body, { authorization: 'Bearer s3cret-token' })).status).toBe(200);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('holds the deadline with Redis stopped: defaults, status 200', async () => {
    const redis = await privateRedis();
    const reader = createFeatureReader({ registry: testConfig, redis: { url: redis.endpoint }, dynamodb: false, metrics: new MetricsRegistry(), deadlineMs: 50 });
    const { post, url } = await serve(reader);
    expect(await reader.ready(5_000)).toBe(true);
    await redis.stop();
    for (let i = 0; i < 5; i++) {
      const lag = monitorEventLoopDelay({ resolution: 1 });
      lag.enable();
      const started = performance.now();
      const res = await post(JSON.stringify({ entity: 'user', ids: ['u1', 'u2'] }));
      const body = (await res.json()) as { vectors: Array<{ source: string }> };
      const elapsed = performance.now() - started;
      lag.disable();
      expect(res.status).toBe(200);
      expect(body.vectors.map((v) => v.source)).toEqual(['default', 'default']);
      // The reader's 50 ms plus the HTTP round trip on loopback; time the event loop lost is not the server's.
      expect(elapsed).toBeLessThanOrEqual(50 + 20 + lag.max / 1e6);
    }
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
  });

  it('drains on close: a request in flight completes, then the port is closed', async () => {
    let release: (() => void) | undefined;
    let closedReader = false;
    const vector = { entityId: 'u1', features: { n: 1 }, source: 'redis' as const, defaulted: [], ageMs: 5 };
    const reader = {
      getMany: () => new Promise((resolve) => (release = () => resolve([vector]))),
      ready: () => Promise.resolve(true),
      close: () => Promise.resolve(void (closedReader = true)),
    } as unknown as FeatureReader;
    const { post, url, close } = await serve(reader);
    const pending = post(JSON.stringify({ entity: 'user', ids: ['u1'] }));
    while (release === undefined) await new Promise((resolve) => setImmediate(resolve));
    const closing = close();
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    release();
    const res = await pending;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { vectors: unknown[] }).vectors).toEqual([{ entity_id: 'u1', features: { n: 1 }, source: 'redis', defaulted: [], age_ms: 5 }]);
    await closing;
    expect(closedReader).toBe(true);
  });
});
