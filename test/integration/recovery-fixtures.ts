/**
 * Shared pieces of the recovery tests: a worker whose Redis loses data and a
 * twin worker (own group and key prefix, on the shared Redis) that consumes
 * the same topics and never loses anything; and the final comparison of both
 * against the reference and of each Redis with its DynamoDB copy.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Redis } from 'ioredis';
import { expect, onTestFinished } from 'vitest';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { loadEnvConfig } from '../../src/config.ts';
import type { Admin, Kafka } from '../../src/consumers/kafka-client.ts';
import { createWorker, type Worker } from '../../src/consumers/worker.ts';
import { recoveryMetrics } from '../../src/consumers/recovery-metrics.ts';
import { Keys } from '../../src/stores/keys.ts';
import { referenceVectors } from '../helpers/reference.ts';
import { randomName } from '../helpers/names.ts';
import { testEnv } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { ENGINE_OPTIONS, caughtUp, readTopics, readVectors, type Scenario } from '../helpers/worker-fixtures.ts';
import { dynamoVectors, redisVectors } from './sync-fixtures.ts';

/** Recoveries this process ran so far (all workers in it). */
export async function recoveries(): Promise<number> {
  return (await recoveryMetrics.recoveries.get()).values.reduce((a, v) => a + v.value, 0);
}

export function startWorker(s: Pick<Scenario, 'registry' | 'prefix' | 'groupId'>, env: Record<string, string>): Worker {
  const worker = createWorker({
    registry: s.registry,
    env: loadEnvConfig(testEnv({ FEATURESTREAM_KEY_PREFIX: s.prefix, ...env })),
    groupId: s.groupId,
    metricsPort: false,
    sessionTimeoutMs: 6_000,
    ...ENGINE_OPTIONS,
  });
  onTestFinished(() => worker.stop());
  return worker;
}

/** The twin: same registry and topics, its own group and prefix. */
export function twinOf(s: Scenario): Scenario {
  const prefix = `${randomName('fs-twin')}:`;
  return { ...s, prefix, groupId: randomName('fs-twin-group'), keys: new Keys({ prefix }) };
}

export interface Side {
  s: Scenario;
  redis: Redis;
  groupId: string;
}

/**
 * Both workers caught up; then every vector of the lossy side equals the
 * twin's and the reference's, and each side's DynamoDB copy equals its Redis
 * (features and `_version`) once the sync settled.
 */
export async function expectSameAsTwin(
  o: { kafka: Kafka; admin: Admin; dynamo: DynamoDBClient; table: string; lossy: Side; twin: Side },
  seed: number,
): Promise<void> {
  const topics = [o.lossy.s.topics.tx, o.lossy.s.topics.logins];
  await waitFor('both workers to catch up', async () => (await caughtUp(o.admin, o.lossy.groupId, topics)) && caughtUp(o.admin, o.twin.groupId, topics), {
    timeoutMs: 120_000,
    intervalMs: 250,
  });
  const expected = referenceVectors(o.lossy.s.registry, await readTopics(o.kafka, o.admin, topics), Date.now(), ENGINE_OPTIONS);
  expect(expected.size).toBeGreaterThan(50);
  expect(await readVectors(o.twin.redis, o.twin.s, expected.keys()), `twin, seed ${seed}`).toEqual(expected);
  // Committed offsets can already be at the end while the replay a recovery sought is still running
  // (the commits from before the loss stay until the replay commits lower ones): wait for Redis itself.
  await waitFor('the recovered Redis to equal the reference', async () => isDeepStrictEqual(await readVectors(o.lossy.redis, o.lossy.s, expected.keys()), expected), {
    timeoutMs: 60_000,
    intervalMs: 500,
  }).catch(() => undefined);
  expect(await readVectors(o.lossy.redis, o.lossy.s, expected.keys()), `after the loss, seed ${seed}`).toEqual(expected);
  for (const side of [o.lossy, o.twin]) {
    const inRedis = await redisVectors(side.redis, side.s, expected.keys());
    await waitFor(`DynamoDB to equal Redis (${side.s.prefix})`, async () => {
      const inDynamo = await dynamoVectors(o.dynamo, o.table, side.s);
      return inDynamo.size === inRedis.size && [...inRedis].every(([id, v]) => JSON.stringify(inDynamo.get(id)) === JSON.stringify(v));
    }, { timeoutMs: 60_000, intervalMs: 500 });
  }
  const lossyDynamo = await dynamoVectors(o.dynamo, o.table, o.lossy.s);
  const twinDynamo = await dynamoVectors(o.dynamo, o.table, o.twin.s);
  const features = (m: Map<string, { features: Record<string, unknown> }>) => new Map([...m].map(([id, v]) => [id, v.features]));
  expect(features(lossyDynamo), `DynamoDB after the loss vs the twin's, seed ${seed}`).toEqual(features(twinDynamo));
}
