import { inject, onTestFinished } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { CreateTableCommand, DeleteTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createKafka, type Admin, type Kafka } from '../../src/consumers/kafka-client.ts';
import { createDynamoClient } from '../../src/stores/dynamodb.ts';
import { deleteMatching, type RedisClient } from '../../src/stores/redis.ts';
import { randomName } from './names.ts';
import { waitFor } from './wait.ts';

export function endpoints() {
  return inject('endpoints');
}

/** Env-shaped config pointing at the test services, for code that takes EnvConfig. */
export function testEnv(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e = endpoints();
  return {
    KAFKA_BROKERS: e.kafkaBrokers.join(','),
    REDIS_URL: e.redisUrl,
    DYNAMODB_ENDPOINT: e.dynamodbEndpoint,
    ...(e.redisClusterNodes ? { REDIS_CLUSTER_NODES: e.redisClusterNodes.join(',') } : {}),
    LOG_LEVEL: process.env.FEATURESTREAM_TEST_LOG_LEVEL ?? 'warn',
    ...overrides,
  };
}

async function reachable<T>(service: string, where: string, attempt: () => Promise<T>): Promise<T> {
  try {
    return await attempt();
  } catch (err) {
    throw new Error(
      `${service} at ${where} is unreachable (${err instanceof Error ? err.message : String(err)}); start it with \`npm run services:up\``,
    );
  }
}

/** A Redis connection closed after the test; keys under `prefix` are deleted then. */
export async function testRedis(prefix?: string): Promise<Redis> {
  const url = endpoints().redisUrl;
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2_000, retryStrategy: () => null });
  // Connection errors surface through `reachable` with the service named; no unhandled 'error' events.
  redis.on('error', () => undefined);
  await reachable('Redis', url, async () => {
    await redis.connect();
    await redis.ping();
  });
  onTestFinished(async () => {
    if (prefix && redis.status === 'ready') await deleteMatching(redis, `${prefix}*`);
    redis.disconnect();
  });
  return redis;
}

/** True in the Redis Cluster pass: the code under test talks to REDIS_CLUSTER_NODES. */
export function onCluster(): boolean {
  return endpoints().redisClusterNodes !== undefined;
}

/**
 * The Redis the code under test writes to: the Cluster in the cluster pass,
 * else the single node. Keys under `prefix` are deleted after the test (on
 * every master of a Cluster).
 */
export async function testRedisClient(prefix?: string): Promise<RedisClient> {
  const seeds = endpoints().redisClusterNodes;
  if (seeds === undefined) return testRedis(prefix);
  const nodes = seeds.map((hp) => ({ host: hp.split(':')[0]!, port: Number(hp.split(':')[1]) }));
  const cluster = new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: 1, connectTimeout: 2_000 } });
  cluster.on('error', () => undefined);
  await reachable('Redis Cluster', seeds.join(','), async () => {
    await new Promise<void>((resolve, reject) => {
      if (cluster.status === 'ready') return resolve();
      cluster.once('ready', () => resolve());
      setTimeout(() => reject(new Error(`cluster not ready (${cluster.status})`)), 10_000);
    });
  });
  onTestFinished(async () => {
    if (prefix && cluster.status === 'ready') {
      await Promise.all(cluster.nodes('master').map((node) => deleteMatching(node, `${prefix}*`)));
    }
    cluster.disconnect();
  });
  return cluster;
}

/** A kafkajs client (through the project's one Kafka module) plus a connected admin; topics created with `createTopic` are deleted after the test. */
export async function testKafka(): Promise<{ kafka: Kafka; admin: Admin; createTopic: (partitions?: number, name?: string) => Promise<string> }> {
  const brokers = endpoints().kafkaBrokers;
  const kafka = createKafka({ brokers, clientId: randomName('fs-client'), config: { retry: { retries: 2 } } });
  const admin = kafka.admin();
  await reachable('Kafka', brokers.join(','), () => admin.connect());
  const topics: string[] = [];
  onTestFinished(async () => {
    if (topics.length) await admin.deleteTopics({ topics, timeout: 10_000 }).catch(() => undefined);
    await admin.disconnect();
  });
  const createTopic = async (partitions = 1, name = randomName('fs-topic')) => {
    topics.push(name);
    // A broker that just started can answer the leader wait with UNKNOWN_TOPIC_OR_PARTITION: retry until
    // the metadata shows a leader for every partition.
    await waitFor(
      `topic ${name} with a leader for each of its ${partitions} partitions`,
      async () => {
        await admin.createTopics({ topics: [{ topic: name, numPartitions: partitions }], waitForLeaders: true });
        const [meta] = (await admin.fetchTopicMetadata({ topics: [name] })).topics;
        return meta !== undefined && meta.partitions.length === partitions && meta.partitions.every((p) => p.leader >= 0);
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    return name;
  };
  return { kafka, admin, createTopic };
}

/** A DynamoDB client on the test endpoint and a fresh table (pk: S) deleted after the test. */
export async function testDynamo(): Promise<{ client: DynamoDBClient; table: string }> {
  const endpoint = endpoints().dynamodbEndpoint;
  const client = createDynamoClient({ DYNAMODB_ENDPOINT: endpoint, AWS_REGION: 'us-east-1' }, { maxAttempts: 2 });
  const table = randomName('fs-table');
  await reachable('DynamoDB (dynalite)', endpoint, () =>
    client.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    ),
  );
  onTestFinished(async () => {
    await client.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
    client.destroy();
  });
  return { client, table };
}
