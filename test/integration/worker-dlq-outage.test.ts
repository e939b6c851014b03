/**
 * Each message is dead-lettered once, however often its batch is retried: a
 * (private) Redis that answers reads but refuses every write (OOM, as when
 * full) makes the worker retry one batch many times; once Redis takes writes
 * again, the dead-letter topic holds each bad message exactly once.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { Redis } from 'ioredis';
import { loadEnvConfig } from '../../src/config.ts';
import { deadLetterTopic } from '../../src/consumers/dead-letter.ts';
import { createWorker } from '../../src/consumers/worker.ts';
import { workerMetrics } from '../../src/metrics.ts';
import { parseRegistry } from '../../src/schemas/registry.ts';
import { randomName } from '../helpers/names.ts';
import { privateRedis } from '../helpers/private-services.ts';
import { testEnv, testKafka } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { ENGINE_OPTIONS, caughtUp, registryInput, topicSize } from '../helpers/worker-fixtures.ts';

async function retries(): Promise<number> {
  return (await workerMetrics.redisUnavailable.get()).values.reduce((a, v) => a + v.value, 0);
}

describe('dead letters through a Redis write outage', () => {
  it('sends each bad message once while the batch is retried', async () => {
    const server = await privateRedis();
    const admin_ = new Redis(server.endpoint);
    onTestFinished(() => void admin_.disconnect());
    const { kafka, admin, createTopic } = await testKafka();
    const tx = await createTopic(1);
    const logins = await createTopic(1);
    await createTopic(1, deadLetterTopic(tx));
    const registry = parseRegistry(registryInput({ tx, logins }));
    const prefix = `${randomName('fs-dlqo')}:`;
    const env = loadEnvConfig(testEnv({ REDIS_URL: server.endpoint, FEATURESTREAM_KEY_PREFIX: prefix }));
    const groupId = randomName('fs-group');
    const worker = createWorker({ registry, env, groupId, metricsPort: false, dualWrite: false, ...ENGINE_OPTIONS });
    onTestFinished(() => worker.stop());
    await worker.start();

    const now = Date.now();
    const producer = kafka.producer();
    await producer.connect();
    onTestFinished(() => producer.disconnect());
    // A first batch goes through while Redis takes writes (the worker registers its layout then).
    await producer.send({ topic: tx, messages: [{ key: 'u1', value: JSON.stringify({ event_id: 'w', user_id: 'u1', amount: 1, merchant_id: 'm1', ts: now - 1_000 }) }] });
    await waitFor('the first batch to commit', () => caughtUp(admin, groupId, [tx]), { timeoutMs: 60_000 });

    await admin_.config('SET', 'maxmemory', '1');
    const before = await retries();
    await producer.send({
      topic: tx,
      messages: [
        { key: 'u1', value: JSON.stringify({ event_id: 'a', user_id: 'u1', amount: 5, merchant_id: 'm1', ts: now - 1_000 }) },
        { key: 'u1', value: '{"broken' },
        { key: 'u1', value: JSON.stringify({ user_id: 'u1', amount: 1, merchant_id: 'm1', ts: now + 86_400_000 }) },
        { key: 'u1', value: null },
      ],
    });
    await waitFor('the batch to be retried several times', async () => (await retries()) >= before + 4, { timeoutMs: 60_000 });
    expect(await caughtUp(admin, groupId, [tx])).toBe(false);
    await admin_.config('SET', 'maxmemory', '0');

    await waitFor('the worker to commit the batch', () => caughtUp(admin, groupId, [tx]), { timeoutMs: 60_000 });
    expect(await topicSize(admin, deadLetterTopic(tx))).toBe(3);
  });
});
