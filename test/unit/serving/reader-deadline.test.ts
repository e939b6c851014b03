/**
 * Per-call deadlines (issue 12 item 5), against a scripted Redis that answers
 * only when told: a caller's deadline bounds that caller, never the breaker's
 * view of Redis nor another caller that joined the same fetch.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { Registry as MetricsRegistry } from 'prom-client';
import { ConfigError, createFeatureReader, type FeatureReaderOptions } from '../../../src/index.ts';
import type { BatchGetItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { defineConfig, parseRegistry } from '../../../src/schemas/registry.ts';
import { vectorToItem } from '../../../src/stores/dynamo-item.ts';
import { Keys } from '../../../src/stores/keys.ts';
import { heldRedis, scriptedRedis, type Row } from './scripted-redis.ts';

const config = defineConfig({
  entities: [{ name: 'user' }],
  sources: [{ name: 'tx', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: { user_id: 'string', ts: 'time' } }],
  features: [{ name: 'tx_count_1h', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0 }],
});

const row = (count: number): Row => ['1', String(Date.now()), String(count)];

function held(extra: Partial<FeatureReaderOptions<typeof config>> = {}) {
  const redis = heldRedis((keys) => keys.map(() => [null, row(7)]));
  const metrics = new MetricsRegistry();
  const reader = createFeatureReader({ registry: config, redis: redis.client, dynamodb: false, metrics, cache: false, deadlineMs: 1_000, ...extra });
  onTestFinished(() => reader.close());
  return { reader, ...redis, metrics };
}

async function failures(metrics: MetricsRegistry): Promise<number> {
  const { values } = await metrics.getSingleMetric('featurestream_reader_redis_failures_total')!.get();
  return values.reduce((sum, v) => sum + v.value, 0);
}

describe('per-call deadlines', () => {
  it('a caller deadline shorter than Redis takes never counts as a breaker failure', async () => {
    const { reader, release, sent, metrics } = held({ breaker: { failureThreshold: 2, openMs: 60_000 } });
    for (let i = 0; i < 10; i++) {
      // Redis answers only on release(), after the call has given up on its 3 ms.
      const v = await reader.get('user', `u${i}`, { deadlineMs: 3 });
      expect(v.source).toBe('default');
      release();
    }
    expect(reader.breakerState).toBe('closed');
    expect(await failures(metrics)).toBe(0);
    const late = reader.get('user', 'u-late', { deadlineMs: 200 });
    await waitUntilSent(sent, 11);
    release();
    expect(await late).toMatchObject({ source: 'redis', features: { tx_count_1h: 7 } });
  });

  it('a caller joining a fetch started by a caller in a hurry keeps its own deadline', async () => {
    // The shared fetch's Redis budget (40% of the reader's deadline) must outlast a starved event loop
    // between the hurried caller giving up and release(): otherwise the patient one sees a Redis timeout.
    const { reader, release, sent } = held({ deadlineMs: 30_000 });
    const hurried = reader.get('user', 'u1', { deadlineMs: 10 });
    const patient = reader.get('user', 'u1', { deadlineMs: 20_000 });
    expect((await hurried).source).toBe('default');
    release();
    expect(await patient).toMatchObject({ source: 'redis', features: { tx_count_1h: 7 } });
    expect(sent).toHaveLength(1);
  });

  it('a joiner whose deadline outlasts the fetch it joined falls back to DynamoDB on its own', async () => {
    const keys = new Keys({ prefix: 't:' });
    const item = vectorToItem(keys, { entityType: 'user', entityId: 'u1' }, 1, { features: { tx_count_1h: 9 }, version: 1, updatedMs: Date.now(), expiresAtMs: Date.now() + 60_000 }, parseRegistry(config).featuresOf('user'));
    let reads = 0;
    // The first BatchGetItem (the shared fetch's) never answers; the joiner's own read does. The reader's warm-up read finds nothing.
    const dynamo = {
      send: (command: BatchGetItemCommand, options: { abortSignal: AbortSignal }) => {
        if (command.input.RequestItems!.t!.Keys![0]!.pk!.S!.startsWith('t:_warmup#')) return Promise.resolve({ Responses: { t: [] } });
        reads++;
        if (reads === 1) return new Promise((_, reject) => options.abortSignal.addEventListener('abort', () => reject(new Error('aborted'))));
        expect(command.input.RequestItems!.t!.Keys).toHaveLength(1);
        return Promise.resolve({ Responses: { t: [item] } });
      },
    } as unknown as DynamoDBClient;
    const redis = scriptedRedis(() => Promise.reject(new Error('connection lost')));
    const reader = createFeatureReader({ registry: config, redis: redis.client, dynamodb: { client: dynamo, table: 't' }, keys, metrics: new MetricsRegistry(), cache: false, deadlineMs: 50 });
    onTestFinished(() => reader.close());
    const first = reader.get('user', 'u1');
    const joiner = reader.get('user', 'u1', { deadlineMs: 5_000 });
    expect((await first).source).toBe('default');
    expect(await joiner).toMatchObject({ source: 'dynamodb', features: { tx_count_1h: 9 } });
    expect(reads).toBe(2);
  });

  it('a Redis budget longer than the fetch deadline still ends the fetch at its deadline: its joiner falls back on its own', async () => {
    const keys = new Keys({ prefix: 't:' });
    const item = vectorToItem(keys, { entityType: 'user', entityId: 'u1' }, 1, { features: { tx_count_1h: 9 }, version: 1, updatedMs: Date.now(), expiresAtMs: Date.now() + 60_000 }, parseRegistry(config).featuresOf('user'));
    const dynamo = {
      send: (command: BatchGetItemCommand) => {
        const warmup = command.input.RequestItems!.t!.Keys![0]!.pk!.S!.startsWith('t:_warmup#');
        return Promise.resolve({ Responses: { t: warmup ? [] : [item] } });
      },
    } as unknown as DynamoDBClient;
    // Redis never answers within the test; its budget (10 s) outlasts the shared fetch's deadline (the reader's 50 ms).
    const redis = heldRedis((sentKeys) => sentKeys.map(() => [null, row(7)]));
    const reader = createFeatureReader({ registry: config, redis: redis.client, dynamodb: { client: dynamo, table: 't' }, keys, metrics: new MetricsRegistry(), cache: false, deadlineMs: 50, redisTimeoutMs: 10_000 });
    onTestFinished(async () => {
      redis.release();
      await reader.close();
    });
    const first = reader.get('user', 'u1');
    const joiner = reader.get('user', 'u1', { deadlineMs: 3_000 });
    expect((await first).source).not.toBe('redis');
    const started = performance.now();
    expect(await joiner).toMatchObject({ source: 'dynamodb', features: { tx_count_1h: 9 } });
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('rejects a deadline that is NaN, zero, negative or infinite, per call and in the options', async () => {
    const { reader } = held();
    for (const bad of [Number.NaN, 0, -5, Number.POSITIVE_INFINITY]) {
      await expect(reader.get('user', 'u1', { deadlineMs: bad })).rejects.toThrow(ConfigError);
      await expect(reader.getMany('user', ['u1'], { deadlineMs: bad })).rejects.toThrow(/deadlineMs must be a finite number of ms above 0/);
      expect(() => createFeatureReader({ registry: config, redis: false, dynamodb: false, metrics: new MetricsRegistry(), deadlineMs: bad })).toThrow(
        /reader option deadlineMs must be a finite number of ms above 0/,
      );
    }
  });
});

/** Resolves once `n` pipelines were sent (the scripted Redis records them synchronously on exec). */
async function waitUntilSent(sent: string[][], n: number): Promise<void> {
  while (sent.length < n) await new Promise((resolve) => setImmediate(resolve));
}
