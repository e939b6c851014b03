/**
 * Dual-write end to end: Kafka -> worker -> Redis -> BullMQ -> DynamoDB. After quiescence every
 * DynamoDB item equals its Redis vector (features and version), also when DynamoDB was down for
 * 20 s mid-stream, during which the worker kept consuming.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { dynaliteProcess, ensureDynalite } from '../../scripts/services/dynalite.ts';
import { stopProcess } from '../../scripts/services/process.ts';
import { loadEnvConfig } from '../../src/config.ts';
import { createWorker } from '../../src/consumers/worker.ts';
import { createDynamoClient } from '../../src/stores/dynamodb.ts';
import { Keys } from '../../src/stores/keys.ts';
import { randomName } from '../helpers/names.ts';
import { testDynamo, testEnv, testKafka, onCluster, testRedisClient } from '../helpers/services.ts';
import { sparePort } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait.ts';
import { ENGINE_OPTIONS, caughtUp, committedTotal, createScenario, produce, produceOverTime, randomEvents, rng, type Scenario } from '../helpers/worker-fixtures.ts';
import { dynamoVectors, redisVectors } from './sync-fixtures.ts';

/** The worker's keys carry hash tags on a Cluster; the scenario's must match to read them. */
function clusterKeys(s: Scenario): Scenario {
  return { ...s, keys: new Keys({ prefix: s.prefix, hashTags: onCluster() }) };
}

describe('dual-write to DynamoDB through the worker', () => {
  it('converges: every DynamoDB item equals its Redis vector after thousands of updates', async () => {
    const { kafka, admin, createTopic } = await testKafka();
    const s = clusterKeys(await createScenario(createTopic, 4));
    const redis = await testRedisClient(s.prefix);
    const { client, table } = await testDynamo();
    const topics = [s.topics.tx, s.topics.logins];
    await produce(kafka, randomEvents(s, 3_000, 200, Date.now(), rng(Date.now() % 100_000)));

    const env = loadEnvConfig(testEnv({ FEATURESTREAM_KEY_PREFIX: s.prefix, DYNAMODB_TABLE: table }));
    const worker = createWorker({ registry: s.registry, env, groupId: s.groupId, metricsPort: false, sessionTimeoutMs: 6_000, ...ENGINE_OPTIONS });
    onTestFinished(() => worker.stop());
    await worker.start();
    await waitFor('the worker to catch up', () => caughtUp(admin, s.groupId, topics), { timeoutMs: 90_000 });

    const ids = Array.from({ length: 200 }, (_, i) => `u${i}`);
    const inRedis = await redisVectors(redis, s, ids);
    expect(inRedis.size).toBeGreaterThan(150);
    await waitFor(
      'DynamoDB to equal Redis',
      async () => {
        const inDynamo = await dynamoVectors(client, table, s);
        return inDynamo.size === inRedis.size && [...inRedis].every(([id, v]) => JSON.stringify(inDynamo.get(id)) === JSON.stringify(v));
      },
      { timeoutMs: 120_000, intervalMs: 1_000 },
    );
    expect(await dynamoVectors(client, table, s)).toEqual(inRedis);
  });

  it('keeps consuming through a 20 s DynamoDB outage and loses no update', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fs-dynalite-'));
    const private_ = { dir, port: await sparePort(), dataDir: join(dir, 'data') };
    const endpoint = await ensureDynalite(private_, () => undefined);
    onTestFinished(() => stopProcess(dynaliteProcess(private_), 3_000).then(() => undefined));
    const client = createDynamoClient({ DYNAMODB_ENDPOINT: endpoint, AWS_REGION: 'us-east-1' }, { maxAttempts: 1 });
    onTestFinished(() => client.destroy());
    const table = randomName('fs-table');

    const { kafka, admin, createTopic } = await testKafka();
    const s = clusterKeys(await createScenario(createTopic, 4));
    const redis = await testRedisClient(s.prefix);
    const topics = [s.topics.tx, s.topics.logins];
    const env = loadEnvConfig(testEnv({ FEATURESTREAM_KEY_PREFIX: s.prefix, DYNAMODB_ENDPOINT: endpoint, DYNAMODB_TABLE: table }));
    const worker = createWorker({ registry: s.registry, env, groupId: s.groupId, metricsPort: false, sessionTimeoutMs: 6_000, ...ENGINE_OPTIONS });
    onTestFinished(() => worker.stop());
    await worker.start();

    let producing = true;
    const traffic = produceOverTime(kafka, s, { chunks: 1_000, perChunk: 40, users: 100, pauseMs: 250, seed: 7, stop: () => !producing });
    await waitFor('first commits', async () => (await committedTotal(admin, s.groupId, topics)) > 0, { timeoutMs: 60_000 });

    await stopProcess(dynaliteProcess(private_), 3_000);
    const committedAtOutage = await committedTotal(admin, s.groupId, topics);
    // The outage is a span of wall-clock time by definition; the worker must keep committing through it.
    await sleep(20_000);
    expect(await committedTotal(admin, s.groupId, topics)).toBeGreaterThan(committedAtOutage + 500);
    await ensureDynalite(private_, () => undefined);
    producing = false;
    await traffic;
    await waitFor('the worker to catch up', () => caughtUp(admin, s.groupId, topics), { timeoutMs: 90_000 });

    const ids = Array.from({ length: 100 }, (_, i) => `u${i}`);
    const inRedis = await redisVectors(redis, s, ids);
    expect(inRedis.size).toBeGreaterThan(50);
    await waitFor(
      'DynamoDB to converge after the outage',
      async () => {
        const inDynamo = await dynamoVectors(client, table, s);
        return [...inRedis].every(([id, v]) => JSON.stringify(inDynamo.get(id)) === JSON.stringify(v));
      },
      { timeoutMs: 180_000, intervalMs: 1_000 },
    );
    expect(await dynamoVectors(client, table, s)).toEqual(inRedis);
  });
});
