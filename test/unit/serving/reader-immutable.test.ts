/**
 * Vectors handed out cannot change what anyone else is served: not the
 * training-time defaults of other missing entities, not the cached vector.
 * Lists are frozen; Float32Arrays are private copies.
 */
import { describe, expect, expectTypeOf, it, onTestFinished } from 'vitest';
import { Registry as MetricsRegistry } from 'prom-client';
import { createFeatureReader } from '../../../src/index.ts';
import { defaultRegistryConfig } from '../../../src/schemas/default-registry.ts';
import { defineConfig, parseRegistry } from '../../../src/schemas/registry.ts';
import { encodeFeatureValue } from '../../../src/stores/codec.ts';
import { absent, scriptedRedis, type Answer } from './scripted-redis.ts';

const vectorConfig = defineConfig({
  entities: [{ name: 'user' }],
  sources: [{ name: 'emb', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: { user_id: 'string', vec: 'vector', ts: 'time' } }],
  features: [
    { name: 'embedding', source: 'emb', op: 'last', field: 'vec', type: 'vector', dim: 2, default: [0, 0], freshness: '1d' },
    { name: 'tags', source: 'emb', op: 'last_k', field: 'user_id', k: 3, type: 'string_list', default: [], freshness: '1d' },
  ],
});
const vectorRegistry = parseRegistry(vectorConfig);

/** u1 is stored (embedding [1, 2], tags ['a']); every other id is absent. */
const storedU1: Answer = (keys) =>
  Promise.resolve(
    keys.map((key) =>
      key.includes(':u1:')
        ? [null, ['1', String(Date.now()), encodeFeatureValue(vectorRegistry.feature('embedding')!, new Float32Array([1, 2])), encodeFeatureValue(vectorRegistry.feature('tags')!, ['a'])]]
        : [null, [null, null, null, null]],
    ),
  );

describe('served vectors are immutable', () => {
  it("a caller pushing into a missing user's list changes nobody's defaults (issue 12 item 4)", async () => {
    const reader = createFeatureReader({ registry: defaultRegistryConfig, redis: scriptedRedis(absent).client, dynamodb: false, metrics: new MetricsRegistry(), deadlineMs: 60_000 });
    onTestFinished(() => reader.close());

    const nobody = await reader.get('user', 'nobody-1');
    expectTypeOf(nobody.features.recent_merchants).toEqualTypeOf<readonly string[]>();
    // The reproduction; the type forbids it, so it is forced through a cast.
    expect(() => (nobody.features.recent_merchants as string[]).push('INJECTED')).toThrow(TypeError);

    expect((await reader.get('user', 'nobody-2')).features.recent_merchants).toEqual([]);
    const cached = await reader.get('user', 'nobody-1');
    expect(cached.source).toBe('cache');
    expect(cached.features.recent_merchants).toEqual([]);
    expect(defaultRegistryConfig.features.find((f) => f.name === 'recent_merchants')!.default).toEqual([]);
  });

  it('the cached vector cannot be changed through a vector handed out from it', async () => {
    const reader = createFeatureReader({ registry: vectorConfig, redis: scriptedRedis(storedU1).client, dynamodb: false, metrics: new MetricsRegistry(), deadlineMs: 60_000 });
    onTestFinished(() => reader.close());

    const first = await reader.get('user', 'u1');
    expect(first.source).toBe('redis');
    expect(() => (first.features.tags as string[]).push('x')).toThrow(TypeError);
    first.features.embedding[0] = 99;
    expect(() => (first.defaulted as string[]).push('embedding')).toThrow(TypeError);
    (first.features as Record<string, unknown>).tags = ['replaced'];

    const again = await reader.get('user', 'u1');
    expect(again.source).toBe('cache');
    expect(again.features).toEqual({ embedding: new Float32Array([1, 2]), tags: ['a'] });
    expect(again.defaulted).toEqual([]);
    expect(again.features.embedding).not.toBe(first.features.embedding);
  });

  it("an on-demand feature reading a vector never sees another caller's change to it (cached vector read again)", async () => {
    const config = defineConfig({
      ...vectorConfig,
      onDemand: [{ name: 'embedding_sum', entity: 'user', compute: (f) => (f.embedding as Float32Array).reduce((a, b) => a + b, 0), type: 'float', default: -1 }],
    });
    const reader = createFeatureReader({ registry: config, redis: scriptedRedis(storedU1).client, dynamodb: false, metrics: new MetricsRegistry(), deadlineMs: 60_000 });
    onTestFinished(() => reader.close());

    const first = await reader.get('user', 'u1');
    expect(first.features.embedding_sum).toBe(3);
    first.features.embedding.fill(50);
    const again = await reader.get('user', 'u1');
    expect(again.source).toBe('cache');
    expect(again.features).toEqual({ embedding: new Float32Array([1, 2]), tags: ['a'], embedding_sum: 3 });
  });

  it('a vector-typed default is a private copy for every missing entity', async () => {
    const reader = createFeatureReader({ registry: vectorConfig, redis: scriptedRedis(storedU1).client, dynamodb: false, metrics: new MetricsRegistry(), deadlineMs: 60_000 });
    onTestFinished(() => reader.close());

    const [a, b] = await reader.getMany('user', ['nobody-1', 'nobody-2']);
    a!.features.embedding[0] = 42;
    a!.features.embedding.fill(7);
    expect(b!.features.embedding).toEqual(new Float32Array([0, 0]));
    expect((await reader.get('user', 'nobody-3')).features.embedding).toEqual(new Float32Array([0, 0]));
    expect((await reader.get('user', 'nobody-1')).features.embedding).toEqual(new Float32Array([0, 0]));
    expect(vectorRegistry.feature('embedding')!.default).toEqual(new Float32Array([0, 0]));
  });
});
