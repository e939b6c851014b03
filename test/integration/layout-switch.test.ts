/**
 * Switching the vector layout (issue 14): a live worker with `layout: 'fields'`
 * serves keyspace version 1 per field; a backfill with the default (packed)
 * registry builds version 2 and switches; the live workers are rolled onto
 * the packed config. Readers of both registries poll throughout and must
 * serve exactly the reference vectors (every feature type) the whole time:
 * each version is read in its own recorded layout, whatever the reader's
 * registry says. Afterwards the packed worker's new writes are served too.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadEnvConfig } from '../../src/config.ts';
import { createBackfill } from '../../src/consumers/backfill/backfill.ts';
import { createWorker } from '../../src/consumers/worker.ts';
import { createFeatureReader, type FeatureVector } from '../../src/index.ts';
import { createLogger } from '../../src/logger.ts';
import { parseRegistry, type FeatureValue, type Registry } from '../../src/schemas/registry.ts';
import { encodeFeatureValue } from '../../src/stores/codec.ts';
import { Keys } from '../../src/stores/keys.ts';
import { randomName } from '../helpers/names.ts';
import { referenceVectors, type ExpectedVectors } from '../helpers/reference.ts';
import { onCluster, testEnv, testKafka, testRedisClient } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { ENGINE_OPTIONS, caughtUp, produce, randomEvents, readTopics, readVectors, registryInput, rng, type Scenario, type TopicMessage } from '../helpers/worker-fixtures.ts';

/** The worker scenario's registry plus a string, a string list and a vector feature, in two groups. */
function layoutInput(topics: Scenario['topics'], embeddings: string) {
  const base = registryInput(topics);
  const features = [
    ...base.features,
    { name: 'last_merchant', source: 'tx', op: 'last', field: 'merchant_id', type: 'string', default: 'none', freshness: '1d' },
    { name: 'recent_merchants', source: 'tx', op: 'last_k', field: 'merchant_id', k: 3, type: 'string_list', default: [], freshness: '1d' },
    { name: 'embedding', source: 'emb', op: 'last', field: 'embedding', type: 'vector', dim: 4, default: [0, 0, 0, 0], freshness: '1d' },
  ];
  return {
    ...base,
    sources: [...base.sources, { name: 'emb', topic: embeddings, entity: 'user', keyField: 'user_id', timeField: 'ts', schema: 'embeddings' }],
    features,
    groups: [
      { name: 'features', features: features.filter((f) => f.name !== 'embedding').map((f) => f.name) },
      { name: 'emb', features: ['embedding'] },
    ],
  };
}

/** A served vector in the reference's form: group -> feature -> per-field encoding, defaulted features left out. */
function servedForm(registry: Registry, v: FeatureVector): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const g of registry.groupsOf('user')) {
    const fields: Record<string, string> = {};
    for (const name of g.features) {
      if (v.defaulted.includes(name)) continue;
      fields[name] = Buffer.from(encodeFeatureValue(registry.feature(name)!, v.features[name] as FeatureValue)).toString('latin1');
    }
    out[g.name] = fields;
  }
  return out;
}

function embeddingEvents(topic: string, users: number, nowMs: number, round: number): TopicMessage[] {
  return Array.from({ length: users }, (_, i) => {
    const user_id = `u${i}`;
    const embedding = [i + round, -i / 2, 0.25, round / 1024];
    return { topic, message: { key: user_id, value: JSON.stringify({ event_id: `emb-${round}-${i}`, user_id, embedding, ts: nowMs - 1_000 }) } };
  });
}

describe('layout switch', () => {
  it('moves a per-field keyspace to packed through a backfill, readers of both registries serving exact vectors throughout', async () => {
    const { kafka, admin, createTopic } = await testKafka();
    const topics = { tx: await createTopic(2), logins: await createTopic(2) };
    const embeddings = await createTopic(2);
    const all = [topics.tx, topics.logins, embeddings];
    const input = layoutInput(topics, embeddings);
    const fields = parseRegistry({ ...input, layout: 'fields' });
    const packed = parseRegistry(input);
    expect(packed.layout).toBe('packed');
    const prefix = `${randomName('fs-layout')}:`;
    const keys = new Keys({ prefix, hashTags: onCluster() });
    const s: Scenario = { topics, registry: fields, configFile: '', prefix, groupId: randomName('fs-group'), keys };
    const redis = await testRedisClient(prefix);
    const env = loadEnvConfig(testEnv({ FEATURESTREAM_KEY_PREFIX: prefix }));
    const seed = Date.now() % 100_000;
    await produce(kafka, [...randomEvents(s, 1_500, 40, Date.now(), rng(seed)), ...embeddingEvents(embeddings, 30, Date.now(), 1)]);

    const startWorker = async (registry: Registry) => {
      const w = createWorker({ registry, env, groupId: s.groupId, metricsPort: false, sessionTimeoutMs: 6_000, ...ENGINE_OPTIONS });
      onTestFinished(() => w.stop());
      await w.start();
      return w;
    };
    const live1 = await startWorker(fields);
    await waitFor('the per-field worker to catch up', () => caughtUp(admin, s.groupId, all), { timeoutMs: 60_000 });

    let expected: ExpectedVectors = referenceVectors(packed, await readTopics(kafka, admin, all), Date.now(), ENGINE_OPTIONS);
    const ids = [...expected.keys()];
    expect(ids.length).toBeGreaterThan(30);
    // Version 1 is per field: feature fields, no packed field, a fingerprint without the packed mark.
    const sample = keys.vector({ entityType: 'user', entityId: 'u1' }, 'features', 1);
    expect(await redis.hexists(sample, 'tx_count_24h')).toBe(1);
    expect(await redis.type(sample)).toBe('hash');
    expect(await redis.hget(keys.layouts(), '1')).not.toMatch(/packed/);
    expect(await readVectors(redis, { registry: fields, keys }, ids, 1)).toEqual(expected);

    const readers = [fields, packed].map((registry) => {
      const reader = createFeatureReader({ registry, redis, dynamodb: false, keys, cache: false, deadlineMs: 2_000, activeVersionTtlMs: 100 });
      onTestFinished(() => reader.close());
      return { registry, reader };
    });
    const check = async () => {
      const wrong: string[] = [];
      for (const { registry, reader } of readers) {
        const vectors = await reader.getMany('user', ids);
        vectors.forEach((v, i) => {
          const want = expected.get(ids[i]!)!;
          const got = servedForm(registry, v);
          if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`${registry.layout} reader, ${ids[i]}: ${JSON.stringify(got)} != ${JSON.stringify(want)}`);
        });
      }
      return wrong;
    };
    expect(await check()).toEqual([]);

    let reading = true;
    let calls = 0;
    const mismatches: string[] = [];
    const readLoop = (async () => {
      while (reading) {
        mismatches.push(...(await check()));
        calls++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    const backfill = createBackfill({
      registry: packed,
      env,
      since: 'earliest',
      groupId: randomName('fs-backfill'),
      liveGroupId: s.groupId,
      sessionTimeoutMs: 6_000,
      logger: createLogger({ level: 'warn' }),
      ...ENGINE_OPTIONS,
    });
    onTestFinished(() => backfill.stop());
    const done = backfill.run();
    await waitFor('the backfill to switch the pointer', async () => (await redis.get(keys.activeVersion())) === '2', { timeoutMs: 60_000, intervalMs: 100 });
    const callsAtSwitch = calls;
    await startWorker(packed);
    await live1.stop();
    const summary = await Promise.race([
      done,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('backfill did not complete the handover')), 90_000)),
    ]);
    expect(summary).toMatchObject({ version: 2, switched: true, completed: true });
    await waitFor('reads after the switch', () => calls > callsAtSwitch + 3, { timeoutMs: 30_000 });
    reading = false;
    await readLoop;
    expect(mismatches.slice(0, 5)).toEqual([]);

    // Version 2 is packed: one string per group, a fingerprint with the packed mark.
    expect(await redis.type(keys.vector({ entityType: 'user', entityId: 'u1' }, 'features', 2))).toBe('string');
    expect(await redis.type(keys.vector({ entityType: 'user', entityId: 'u1' }, 'emb', 2))).toBe('string');
    expect(await redis.hget(keys.layouts(), '2')).toMatch(/\+packed-string$/);
    expect(await readVectors(redis, { registry: packed, keys }, ids, 2)).toEqual(expected);

    // New events, written packed by the rolled worker, are what both readers serve now.
    await produce(kafka, [...randomEvents(s, 300, 40, Date.now(), rng(seed + 1)), ...embeddingEvents(embeddings, 30, Date.now(), 2)]);
    await waitFor('the packed worker to catch up', () => caughtUp(admin, s.groupId, all), { timeoutMs: 60_000 });
    expected = referenceVectors(packed, await readTopics(kafka, admin, all), Date.now(), ENGINE_OPTIONS);
    expect(await check()).toEqual([]);
  });
});
