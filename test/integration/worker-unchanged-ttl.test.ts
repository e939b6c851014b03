/**
 * Writes that set a key's TTL only when it is due keep an unchanged vector
 * alive: while events keep arriving that leave a group's value as it was,
 * most per-field writes leave its TTL alone, yet the hash stays readable long
 * past the TTL its first write set. A packed write is one SET with its TTL, so
 * it always counts as set.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadEnvConfig } from '../../src/config.ts';
import { createWorker } from '../../src/consumers/worker.ts';
import { workerMetrics } from '../../src/metrics.ts';
import { parseRegistry } from '../../src/schemas/registry.ts';
import { Keys } from '../../src/stores/keys.ts';
import { randomName } from '../helpers/names.ts';
import { onCluster, testEnv, testKafka, testRedisClient } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { storedValue } from '../helpers/vector-hash.ts';

/** Freshness 2 s: the group's key TTL is 4 s, its slack 250 ms. */
const TTL_MS = 4_000;

async function ttlCount(label: 'set' | 'kept'): Promise<number> {
  const m = await workerMetrics.vectorWrites.get();
  return m.values.filter((v) => v.labels.ttl === label).reduce((a, v) => a + v.value, 0);
}

describe('TTLs set only when due', () => {
  for (const layout of ['packed', 'fields'] as const) {
    it(`keeps an unchanged ${layout} vector readable past its first TTL while events keep arriving`, async () => {
      const { kafka, createTopic } = await testKafka();
      const topic = await createTopic(1);
      const registry = parseRegistry({
        layout,
        entities: [{ name: 'user' }],
        sources: [{ name: 'tx', topic, entity: 'user', keyField: 'user_id', timeField: 'ts', schema: 'transactions' }],
        features: [
          { name: 'tx_count_1h', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0 },
          { name: 'last_merchant', source: 'tx', op: 'last', field: 'merchant_id', type: 'string', default: '', freshness: '2s' },
        ],
        // The merchant in a group of its own: every event changes the count, none the merchant.
        groups: [
          { name: 'counts', features: ['tx_count_1h'] },
          { name: 'merchant', features: ['last_merchant'] },
        ],
      });
      const prefix = `${randomName('fs-unchanged')}:`;
      const redis = await testRedisClient(prefix);
      const vector = new Keys({ prefix, hashTags: onCluster() }).vector({ entityType: 'user', entityId: 'u1' }, 'merchant');
      const env = loadEnvConfig(testEnv({ FEATURESTREAM_KEY_PREFIX: prefix }));
      const worker = createWorker({ registry, env, groupId: randomName('fs-group'), metricsPort: false, timerIntervalMs: 250 });
      onTestFinished(() => worker.stop());
      await worker.start();
      const producer = kafka.producer();
      await producer.connect();
      onTestFinished(() => producer.disconnect());
      const send = (i: number) =>
        producer.send({ topic, messages: [{ key: 'u1', value: JSON.stringify({ event_id: `e${i}`, user_id: 'u1', amount: 1, merchant_id: 'm1', ts: Date.now() }) }] });

      await send(0);
      const stored = () => storedValue(redis, registry, vector, 'last_merchant');
      await waitFor('the first event to be written', async () => (await stored()) === 'm1');
      const firstWriteAt = Date.now();
      const keptBefore = await ttlCount('kept');
      const setBefore = await ttlCount('set');
      // Events every 100 ms for more than twice the TTL, each checked to leave the merchant readable.
      let i = 1;
      while (Date.now() - firstWriteAt < 2 * TTL_MS + 1_000) {
        await send(i++);
        await sleep(100);
        expect(await stored()).toBe('m1');
      }
      const counts = new Keys({ prefix, hashTags: onCluster() }).vector({ entityType: 'user', entityId: 'u1' }, 'counts');
      await waitFor('every event to be counted', async () => (await storedValue(redis, registry, counts, 'tx_count_1h')) === i);
      expect(await stored()).toBe('m1');
      expect(await redis.pttl(vector)).toBeGreaterThan(0);
      if (layout === 'fields') {
        // The skip path ran: some writes left the TTL as an earlier write set it.
        expect((await ttlCount('kept')) - keptBefore).toBeGreaterThan(0);
      } else {
        expect((await ttlCount('kept')) - keptBefore).toBe(0);
        expect((await ttlCount('set')) - setBefore).toBeGreaterThan(0);
      }
    });
  }
});
