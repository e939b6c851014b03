/**
 * A healthy run logs no error-level line: a worker on a fresh broker (its
 * group coordinator is still being created when the group forms) with the
 * DynamoDB sync on dynalite (no TTL support) materializes events and stops,
 * and none of its log lines is at error level or above.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadEnvConfig } from '../../src/config.ts';
import { createKafka } from '../../src/consumers/kafka-client.ts';
import { createWorker } from '../../src/consumers/worker.ts';
import { parseRegistry } from '../../src/schemas/registry.ts';
import { Keys } from '../../src/stores/keys.ts';
import { randomName } from '../helpers/names.ts';
import { privateKafka } from '../helpers/private-services.ts';
import { testEnv, testRedis } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { ENGINE_OPTIONS, registryInput } from '../helpers/worker-fixtures.ts';
import { storedValue } from '../helpers/vector-hash.ts';

interface Line {
  level: number;
  msg?: string;
  [field: string]: unknown;
}

function memoryLogger() {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n')) if (text.trim()) lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  return { lines, logger: pino({ level: 'debug' }, sink) };
}

describe('quiet logs', () => {
  it('a healthy worker start, run and stop logs nothing at error level', async () => {
    const broker = await privateKafka();
    const kafka = createKafka({ brokers: [broker.endpoint], clientId: randomName('fs-client') });
    const admin = kafka.admin();
    await admin.connect();
    onTestFinished(() => admin.disconnect());
    const topics = { tx: randomName('fs-tx'), logins: randomName('fs-logins') };
    await admin.createTopics({ topics: [{ topic: topics.tx, numPartitions: 2 }, { topic: topics.logins }], waitForLeaders: true });
    const prefix = `${randomName('fs-quiet')}:`;
    const redis = await testRedis(prefix);
    const keys = new Keys({ prefix });
    const registry = parseRegistry(registryInput(topics));

    const { lines, logger } = memoryLogger();
    const env = loadEnvConfig(testEnv({ KAFKA_BROKERS: broker.endpoint, FEATURESTREAM_KEY_PREFIX: prefix, DYNAMODB_TABLE: randomName('fs-quiet') }));
    const worker = createWorker({ registry, env, logger, groupId: randomName('fs-group'), metricsPort: 0, ...ENGINE_OPTIONS });
    onTestFinished(() => worker.stop());
    await worker.start();

    const producer = kafka.producer();
    await producer.connect();
    const now = Date.now();
    const users = ['u1', 'u2', 'u3'];
    await producer.send({
      topic: topics.tx,
      messages: users.flatMap((u) => [1, 2].map((n) => ({ key: u, value: JSON.stringify({ event_id: `${u}-${n}`, user_id: u, amount: n, merchant_id: 'm1', ts: now - 1_000 }) }))),
    });
    await producer.disconnect();
    for (const u of users) {
      const vector = keys.vector({ entityType: 'user', entityId: u }, 'features');
      await waitFor(`${u} to be materialized`, async () => (await storedValue(redis, registry, vector, 'tx_count_24h')) === 2);
    }
    await worker.stop();

    expect(lines.some((l) => l.msg === 'worker started')).toBe(true);
    const loud = lines.filter((l) => l.level >= 50);
    expect(loud, JSON.stringify(loud, null, 1)).toEqual([]);
    const ttlWarnings = lines.filter((l) => l.level >= 40 && /TTL/.test(l.msg ?? ''));
    expect(ttlWarnings, JSON.stringify(ttlWarnings, null, 1)).toEqual([]);
  });
});
