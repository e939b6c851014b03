import type { TestProject } from 'vitest/node';
import { startContainers } from '../helpers/containers.ts';

export interface Endpoints {
  kafkaBrokers: string[];
  redisUrl: string;
  dynamodbEndpoint: string;
  /** Set for the Redis Cluster pass (REDIS_CLUSTER_NODES): cluster-ready tests then run against it. */
  redisClusterNodes?: string[];
}

declare module 'vitest' {
  export interface ProvidedContext {
    endpoints: Endpoints;
  }
}

const HOW_TO_START =
  'Integration tests need Kafka, Redis and a DynamoDB endpoint. Run them with `npm run test:local` ' +
  '(starts local services, no Docker needed), or `npm run services:up` and export the KAFKA_BROKERS, ' +
  'REDIS_URL and DYNAMODB_ENDPOINT it prints, or install Docker so testcontainers can start them.';

/**
 * Endpoints from the environment win; else testcontainers where Docker runs;
 * else every integration test fails with the command that starts the services.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const { KAFKA_BROKERS, REDIS_URL, DYNAMODB_ENDPOINT, REDIS_CLUSTER_NODES } = process.env;
  if (project.name === 'cluster' && !REDIS_CLUSTER_NODES) {
    // The cluster pass exists to run against a cluster: without one it must fail, never quietly run single-node.
    throw new Error(
      'the cluster project needs REDIS_CLUSTER_NODES (host:port,...): run `npm run test:local`, or ' +
        '`npm run services:up -- --cluster` and export the REDIS_CLUSTER_NODES it prints',
    );
  }
  if (KAFKA_BROKERS && REDIS_URL && DYNAMODB_ENDPOINT) {
    project.provide('endpoints', {
      kafkaBrokers: KAFKA_BROKERS.split(',').map((s) => s.trim()),
      redisUrl: REDIS_URL,
      dynamodbEndpoint: DYNAMODB_ENDPOINT,
      ...(REDIS_CLUSTER_NODES ? { redisClusterNodes: REDIS_CLUSTER_NODES.split(',').map((s) => s.trim()) } : {}),
    });
    return undefined;
  }
  const containers = await startContainers({ KAFKA_BROKERS, REDIS_URL, DYNAMODB_ENDPOINT }).catch((err: unknown) => {
    throw new Error(`${HOW_TO_START}\n(testcontainers: ${err instanceof Error ? err.message : String(err)})`);
  });
  project.provide('endpoints', containers.endpoints);
  return containers.stop;
}
