import { GenericContainer, Wait, getContainerRuntimeClient, type StartedTestContainer } from 'testcontainers';
import type { Endpoints } from '../integration/global-setup.ts';

/** Starts the services missing from `given` in Docker; throws when no Docker runs. */
export async function startContainers(given: {
  KAFKA_BROKERS?: string;
  REDIS_URL?: string;
  DYNAMODB_ENDPOINT?: string;
}): Promise<{ endpoints: Endpoints; stop: () => Promise<void> }> {
  await getContainerRuntimeClient();
  const started: StartedTestContainer[] = [];
  const start = async (c: GenericContainer) => {
    const s = await c.start();
    started.push(s);
    return s;
  };
  let kafkaBrokers = given.KAFKA_BROKERS?.split(',');
  if (!kafkaBrokers) {
    const port = 19092;
    const kafka = await start(
      new GenericContainer('apache/kafka:4.1.1')
        .withExposedPorts({ container: port, host: port })
        .withEnvironment({
          KAFKA_NODE_ID: '1',
          KAFKA_PROCESS_ROLES: 'broker,controller',
          KAFKA_LISTENERS: `PLAINTEXT://:${port},CONTROLLER://:9093`,
          KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://127.0.0.1:${port}`,
          KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
          KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
          KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
          KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
          KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
          KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR: '1',
        })
        .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/)),
    );
    kafkaBrokers = [`127.0.0.1:${kafka.getMappedPort(port)}`];
  }
  let redisUrl = given.REDIS_URL;
  if (!redisUrl) {
    const redis = await start(new GenericContainer('redis:7').withExposedPorts(6379).withWaitStrategy(Wait.forLogMessage(/Ready to accept/)));
    redisUrl = `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`;
  }
  let dynamodbEndpoint = given.DYNAMODB_ENDPOINT;
  if (!dynamodbEndpoint) {
    const dynamo = await start(
      new GenericContainer('node:20-alpine')
        .withCommand(['npx', '--yes', 'dynalite@4.0.0', '--port', '8000', '--createTableMs', '0'])
        .withExposedPorts(8000)
        .withWaitStrategy(Wait.forListeningPorts()),
    );
    dynamodbEndpoint = `http://${dynamo.getHost()}:${dynamo.getMappedPort(8000)}`;
  }
  return {
    endpoints: { kafkaBrokers, redisUrl, dynamodbEndpoint },
    stop: async () => {
      await Promise.all(started.map((c) => c.stop()));
    },
  };
}
