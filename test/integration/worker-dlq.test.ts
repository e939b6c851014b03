/**
 * Bad input loses nothing and stops nothing: each kind of malformed message
 * lands in `<topic>.dlq` with its original key and value and the reason
 * headers, and the valid messages around it are materialized.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadEnvConfig } from '../../src/config.ts';
import { DLQ_HEADERS, deadLetterTopic } from '../../src/consumers/dead-letter.ts';
import { createWorker } from '../../src/consumers/worker.ts';
import type { KafkaMessage } from '../../src/consumers/kafka-client.ts';
import { parseRegistry } from '../../src/schemas/registry.ts';
import { Keys } from '../../src/stores/keys.ts';
import { randomName } from '../helpers/names.ts';
import { onCluster, testEnv, testKafka, testRedisClient } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { ENGINE_OPTIONS, caughtUp, registryInput, topicSize } from '../helpers/worker-fixtures.ts';
import { storedValue } from '../helpers/vector-hash.ts';

describe('worker dead-lettering', () => {
  it('sends every kind of malformed message to the dead-letter topic and moves on', async () => {
    const { kafka, admin, createTopic } = await testKafka();
    const tx = await createTopic(1);
    const logins = await createTopic(1);
    await createTopic(1, deadLetterTopic(tx));
    const registry = parseRegistry(registryInput({ tx, logins }, 1_000));
    const prefix = `${randomName('fs-dlq')}:`;
    const redis = await testRedisClient(prefix);
    const keys = new Keys({ prefix, hashTags: onCluster() });
    const now = Date.now();
    const ok = (id: string) => JSON.stringify({ event_id: id, user_id: 'u1', amount: 5, merchant_id: 'm1', ts: now - 1_000 });
    const bad: Array<{ code: string; reason: RegExp; value: string | null }> = [
      { code: 'EVENT_INVALID', reason: /invalid JSON/, value: '{"user_id": "u1", ' },
      { code: 'EVENT_INVALID', reason: /amount/, value: JSON.stringify({ user_id: 'u1', amount: 'ten', merchant_id: 'm1', ts: now }) },
      { code: 'EVENT_INVALID', reason: /non-finite/, value: `{"user_id":"u1","amount":1e999,"merchant_id":"m1","ts":${now}}` },
      { code: 'EVENT_TOO_LARGE', reason: /exceeds/, value: JSON.stringify({ user_id: 'u1', amount: 1, merchant_id: 'x'.repeat(2_000), ts: now }) },
      { code: 'EVENT_IN_FUTURE', reason: /ahead/, value: JSON.stringify({ user_id: 'u1', amount: 1, merchant_id: 'm1', ts: now + 86_400_000 }) },
      { code: 'EVENT_INVALID', reason: /tombstone/, value: null },
    ];
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: tx,
      messages: [
        { key: 'u1', value: ok('a') },
        ...bad.map((b, i) => ({ key: 'u1', value: b.value, headers: { 'test-case': String(i) } })),
        { key: 'u1', value: ok('b') },
      ],
    });
    await producer.disconnect();

    const env = loadEnvConfig(testEnv({ FEATURESTREAM_KEY_PREFIX: prefix }));
    const groupId = randomName('fs-group');
    const worker = createWorker({ registry, env, groupId, metricsPort: 0, ...ENGINE_OPTIONS });
    onTestFinished(() => worker.stop());
    await worker.start();

    const vector = keys.vector({ entityType: 'user', entityId: 'u1' }, 'features');
    await waitFor('both valid events to be counted', async () => (await storedValue(redis, registry, vector, 'tx_count_24h')) === 2);

    const received: KafkaMessage[] = [];
    const consumer = kafka.consumer({ groupId: randomName('fs-dlq-reader') });
    await consumer.connect();
    onTestFinished(() => consumer.disconnect());
    await consumer.subscribe({ topic: deadLetterTopic(tx), fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void received.push(message) });
    await waitFor('all dead letters', () => received.length >= bad.length);
    // Dead letters are durable before their batch commits: once the group has caught up, the
    // dead-letter topic is final, so later duplicates cannot go unseen.
    await waitFor('the worker to commit the batch', () => caughtUp(admin, groupId, [tx]));
    expect(await topicSize(admin, deadLetterTopic(tx))).toBe(bad.length);
    expect(received).toHaveLength(bad.length);

    for (const message of received) {
      const i = Number(message.headers?.['test-case']?.toString());
      const b = bad[i]!;
      const header = (name: string) => message.headers?.[name]?.toString();
      expect(message.key?.toString()).toBe('u1');
      expect(message.value === null ? null : message.value.toString()).toBe(b.value);
      expect(header(DLQ_HEADERS.code)).toBe(b.code);
      expect(header(DLQ_HEADERS.reason)).toMatch(b.reason);
      expect(header(DLQ_HEADERS.topic)).toBe(tx);
      expect(header(DLQ_HEADERS.partition)).toBe('0');
      expect(header(DLQ_HEADERS.offset)).toBe(String(i + 1));
    }

    // Observability: probes answer, and the dead letters are counted per topic and code.
    const base = `http://127.0.0.1:${worker.metricsPort()}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await waitFor('readiness', async () => (await fetch(`${base}/readyz`)).status === 200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain(`featurestream_worker_events_dead_lettered_total{topic="${tx}",code="EVENT_TOO_LARGE"} 1`);
    expect(metrics).toMatch(new RegExp(`featurestream_worker_events_applied_total\\{topic="${tx}",outcome="applied"\\} 2`));
    expect(metrics).toMatch(/featurestream_worker_consumer_lag\{topic="[^"]+",partition="0"\} 0/);
  });

  it('judges EVENT_IN_FUTURE against the record timestamp, so a replay of an old backlog decides the same', async () => {
    const { kafka, admin, createTopic } = await testKafka();
    const tx = await createTopic(1);
    const logins = await createTopic(1);
    await createTopic(1, deadLetterTopic(tx));
    const registry = parseRegistry(registryInput({ tx, logins }));
    const prefix = `${randomName('fs-skew')}:`;
    await testRedisClient(prefix);
    const skew = ENGINE_OPTIONS.maxFutureSkewMs;
    // A backlog recorded 2 h ago: some events claim a time 10 min past their record's
    // timestamp plus the skew (in the future when recorded, in the past now), others 1 min.
    const recordedMs = Date.now() - 2 * 3_600_000;
    const messages = Array.from({ length: 10 }, (_, i) => {
      const ts = recordedMs + (i % 2 === 0 ? skew + 10 * 60_000 : 60_000);
      return { key: 'u1', timestamp: String(recordedMs + i), value: JSON.stringify({ event_id: `k${i}`, user_id: 'u1', amount: 1, merchant_id: 'm1', ts }) };
    });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: tx, messages });
    await producer.disconnect();

    const env = loadEnvConfig(testEnv({ FEATURESTREAM_KEY_PREFIX: prefix }));
    for (const pass of [1, 2]) {
      // A new group per pass: the second replays the backlog from the start, much later.
      const groupId = randomName('fs-group');
      const worker = createWorker({ registry, env, groupId, metricsPort: false, dualWrite: false, ...ENGINE_OPTIONS });
      onTestFinished(() => worker.stop());
      await worker.start();
      await waitFor(`pass ${pass} to commit`, () => caughtUp(admin, groupId, [tx]));
      await worker.stop();
      expect(await topicSize(admin, deadLetterTopic(tx)), `dead letters after pass ${pass}`).toBe(5 * pass);
    }
  });
});
