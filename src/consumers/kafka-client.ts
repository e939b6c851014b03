/**
 * The only module that imports kafkajs. Everything else uses the small types
 * re-exported here, so the client library can be swapped in one place.
 */
import { Kafka, logLevel, type KafkaConfig, type LogEntry } from 'kafkajs';
import type { Logger } from '../logger.ts';

export type {
  Admin,
  Consumer,
  Producer,
  EachBatchPayload,
  KafkaMessage,
  IHeaders,
  Message,
  TopicPartitionOffsetAndMetadata,
  PartitionAssigner,
} from 'kafkajs';
export { Partitioners, AssignerProtocol } from 'kafkajs';
export type { Kafka };

const levels: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export interface KafkaClientOptions {
  brokers: string[];
  clientId: string;
  logger?: Logger;
  config?: Partial<KafkaConfig>;
}

export function createKafka(options: KafkaClientOptions): Kafka {
  const log = options.logger?.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      if (!log) return;
      const { message, ...rest } = entry.log;
      log[levels[entry.level] ?? 'info']({ namespace: entry.namespace, ...rest }, message);
    },
    ...options.config,
  });
}
