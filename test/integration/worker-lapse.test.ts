/**
 * Bounded staleness without new events: a 10-second window falls back to its
 * default, and a feature past 2 x freshness disappears from the hash, both
 * driven by the persisted timer index alone.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadEnvConfig } from '../../src/config.ts';
import { createWorker } from '../../src/consumers/worker.ts';
import { parseRegistry } from '../../src/schemas/registry.ts';
import { Keys } from '../../src/stores/keys.ts';
import { randomName } from '../helpers/names.ts';
import { onCluster, testEnv, testKafka, testRedisClient } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { storedValue } from '../helpers/vector-hash.ts';

describe('worker timers', () => {
  it('decays a 10 s window to its default and removes a lapsed feature without new events', async () => {
    const { kafka, createTopic } = await testKafka();
    const topic = await createTopic(2);
    const registry = parseRegistry({
      entities: [{ name: 'user' }],
      sources: [{ name: 'logins', topic, entity: 'user', keyField: 'user_id', timeField: 'ts', schema: 'logins' }],
      features: [
        { name: 'logins_10s', source: 'logins', op: 'count', window: '10s', tile: '1s', type: 'int', default: 0 },
        { name: 'last_login', source: 'logins', op: 'last_time', type: 'int', default: 0, freshness: '3s' },
      ],
    });
    const prefix = `${randomName('fs-lapse')}:`;
    const redis = await testRedisClient(prefix);
    const vector = new Keys({ prefix, hashTags: onCluster() }).vector({ entityType: 'user', entityId: 'u1' }, 'features');
    const env = loadEnvConfig(testEnv({ FEATURESTREAM_KEY_PREFIX: prefix }));
    const worker = createWorker({ registry, env, groupId: randomName('fs-group'), metricsPort: false, timerIntervalMs: 250 });
    onTestFinished(() => worker.stop());
    await worker.start();

    const producer = kafka.producer();
    await producer.connect();
    const sentAt = Date.now();
    await producer.send({
      topic,
      messages: [1, 2].map((i) => ({ key: 'u1', value: JSON.stringify({ event_id: `x${i}`, user_id: 'u1', ts: Date.now() }) })),
    });
    await producer.disconnect();

    const stored = (name: string) => storedValue(redis, registry, vector, name);
    await waitFor('both logins to be counted', async () => (await stored('logins_10s')) === 2);
    expect(await stored('last_login')).toBeDefined();

    await waitFor('the 10 s window to fall back to its default', async () => {
      const v = await stored('logins_10s');
      return v === undefined || v === 0;
    }, { timeoutMs: 25_000, intervalMs: 200 });
    // One tile (1 s) plus the timer tick and a margin behind wall-clock truth, never more.
    expect(Date.now() - sentAt).toBeLessThan(10_000 + 1_000 + 3_000);
    await waitFor('the lapsed feature to disappear', async () => (await stored('last_login')) === undefined, { timeoutMs: 25_000, intervalMs: 200 });
    expect(await redis.pttl(vector)).toBeGreaterThan(0);
  });
});
