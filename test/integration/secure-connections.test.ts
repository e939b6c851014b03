/**
 * Secured connections end to end: a broker with a SASL_SSL listener (CA made
 * with keytool, clients trust it through KAFKA_SSL_CA_FILE) and a Redis that
 * speaks only TLS with an ACL user (REDIS_TLS_CA_FILE, REDIS_USERNAME,
 * REDIS_PASSWORD). The worker materializes through both, the reader reads
 * through Redis TLS, and a wrong password stops start-up with an error that
 * names the service.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { loadEnvConfig } from '../../src/config.ts';
import { createKafka } from '../../src/consumers/kafka-client.ts';
import { createWorker } from '../../src/consumers/worker.ts';
import { ConfigError } from '../../src/errors.ts';
import { createFeatureReader } from '../../src/index.ts';
import { parseRegistry } from '../../src/schemas/registry.ts';
import { Keys } from '../../src/stores/keys.ts';
import { makeTestCerts, type TestCerts } from '../helpers/certs.ts';
import { randomName } from '../helpers/names.ts';
import { secureKafka, secureRedis, type SecureKafka, type SecureRedis } from '../helpers/secure-services.ts';
import { testEnv } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { ENGINE_OPTIONS, registryInput } from '../helpers/worker-fixtures.ts';

const PLAIN = { user: 'fs-plain', password: 'plain-pw-1' };
const SCRAM = { user: 'fs-scram', password: 'scram-pw-1' };
const REDIS = { name: 'fs-redis', password: 'redis-pw-1' };

let certs: TestCerts;
let kafka: SecureKafka;
let redis: SecureRedis;

beforeAll(async () => {
  certs = makeTestCerts();
  [kafka, redis] = await Promise.all([
    secureKafka(certs, { plain: { [PLAIN.user]: PLAIN.password }, scram: { [SCRAM.user]: SCRAM.password } }),
    secureRedis(certs, REDIS),
  ]);
});

afterAll(async () => {
  await Promise.all([kafka?.stop(), redis?.stop()]);
  certs?.remove();
});

/** The environment of a deployment with every connection secured. */
function secureVars(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  return testEnv({
    KAFKA_BROKERS: kafka.secureEndpoint,
    KAFKA_SSL_CA_FILE: certs.caPem,
    KAFKA_SASL_MECHANISM: 'PLAIN',
    KAFKA_SASL_USERNAME: PLAIN.user,
    KAFKA_SASL_PASSWORD: PLAIN.password,
    REDIS_URL: redis.url,
    REDIS_TLS_CA_FILE: certs.caPem,
    REDIS_USERNAME: REDIS.name,
    REDIS_PASSWORD: REDIS.password,
    ...overrides,
  });
}

async function topicsOver(vars: NodeJS.ProcessEnv) {
  const admin = createKafka({ env: loadEnvConfig(vars), clientId: randomName('fs-admin') }).admin();
  await admin.connect();
  onTestFinished(() => admin.disconnect());
  const topics = { tx: randomName('fs-tx'), logins: randomName('fs-logins') };
  await admin.createTopics({ topics: [{ topic: topics.tx, numPartitions: 2 }, { topic: topics.logins }], waitForLeaders: true });
  return topics;
}

async function startFails(vars: NodeJS.ProcessEnv): Promise<ConfigError> {
  const topics = { tx: randomName('fs-tx'), logins: randomName('fs-logins') };
  const worker = createWorker({ registry: parseRegistry(registryInput(topics)), env: loadEnvConfig(vars), groupId: randomName('fs-group'), metricsPort: 0, dualWrite: false, ...ENGINE_OPTIONS });
  onTestFinished(() => worker.stop());
  const err = await worker.start().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('secured connections', () => {
  it('the worker materializes over SASL_SSL and Redis TLS with an ACL user, and the reader reads through TLS', async () => {
    const vars = secureVars({ FEATURESTREAM_KEY_PREFIX: `${randomName('fs-sec')}:`, DYNAMODB_TABLE: randomName('fs-sec') });
    const env = loadEnvConfig(vars);
    const topics = await topicsOver(vars);
    const registry = parseRegistry(registryInput(topics));
    const keys = new Keys({ prefix: env.FEATURESTREAM_KEY_PREFIX });
    const worker = createWorker({ registry, env, groupId: randomName('fs-group'), metricsPort: 0, ...ENGINE_OPTIONS });
    onTestFinished(() => worker.stop());
    await worker.start();

    const producer = createKafka({ env, clientId: randomName('fs-producer') }).producer();
    await producer.connect();
    const now = Date.now();
    const sent = { u1: [5, 7], u2: [11] } as Record<string, number[]>;
    await producer.send({
      topic: topics.tx,
      messages: Object.entries(sent).flatMap(([u, amounts]) =>
        amounts.map((amount, i) => ({ key: u, value: JSON.stringify({ event_id: `${u}-${i}`, user_id: u, amount, merchant_id: `m${i}`, ts: now - 1_000 }) })),
      ),
    });
    await producer.disconnect();

    const reader = createFeatureReader({ registry, env: vars, keys, dynamodb: false, cache: false, deadlineMs: 2_000 });
    onTestFinished(() => reader.close());
    for (const [u, amounts] of Object.entries(sent)) {
      const vector = await waitFor(`${u} served from Redis over TLS`, async () => {
        const v = await reader.get('user', u);
        return v.source === 'redis' && v.features.tx_count_24h === amounts.length ? v : undefined;
      });
      expect(vector.features.tx_sum_24h).toBe(amounts.reduce((a, b) => a + b, 0));
    }
  });

  it('SCRAM-SHA-256 and SCRAM-SHA-512 users connect; a wrong SCRAM password is a ConfigError naming KAFKA', async () => {
    for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512']) {
      const env = loadEnvConfig(secureVars({ KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: SCRAM.user, KAFKA_SASL_PASSWORD: SCRAM.password }));
      const admin = createKafka({ env, clientId: randomName('fs-admin') }).admin();
      await admin.connect();
      expect((await admin.describeCluster()).brokers).toHaveLength(1);
      await admin.disconnect();
    }
    const wrong = loadEnvConfig(secureVars({ KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KAFKA_SASL_USERNAME: SCRAM.user, KAFKA_SASL_PASSWORD: 'not-it' }));
    const admin = createKafka({ env: wrong, clientId: randomName('fs-admin'), config: { retry: { retries: 0 } } }).admin();
    const err = await admin.connect().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/^KAFKA: SASL SCRAM-SHA-512 authentication failed/);
    expect((err as ConfigError).message).not.toContain('not-it');
  });

  it('a wrong Kafka password fails worker start-up with an error naming KAFKA', async () => {
    const err = await startFails(secureVars({ KAFKA_SASL_PASSWORD: 'wrong-kafka-pw' }));
    expect(err.message).toMatch(/^KAFKA: SASL PLAIN authentication failed/);
    expect(err.message).not.toContain('wrong-kafka-pw');
  });

  it('a wrong or missing Redis password fails worker start-up with an error naming REDIS', async () => {
    const wrong = await startFails(secureVars({ REDIS_PASSWORD: 'wrong-redis-pw' }));
    expect(wrong.message).toMatch(/^REDIS: authentication failed/);
    expect(wrong.message).not.toContain('wrong-redis-pw');
    const vars = secureVars();
    delete vars.REDIS_USERNAME;
    delete vars.REDIS_PASSWORD;
    expect((await startFails(vars)).message).toMatch(/^REDIS: authentication failed.*NOAUTH/);
  });
});
