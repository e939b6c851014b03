/**
 * The only module that imports kafkajs. Everything else uses the small types
 * re-exported here, so the client library can be swapped in one place.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  Kafka,
  logLevel,
  type AdminConfig,
  type ConsumerConfig,
  type KafkaConfig,
  type LogEntry,
  type OauthbearerProviderResponse,
  type ProducerConfig,
  type SASLOptions,
} from 'kafkajs';
import type { ConnectionOptions } from 'node:tls';
import { ConfigError } from '../errors.ts';
import type { EnvConfig } from '../config.ts';
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
  OauthbearerProviderResponse,
} from 'kafkajs';
export { Partitioners, AssignerProtocol } from 'kafkajs';
export type { Kafka };

const levels: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * Kafka protocol errors kafkajs retries or answers by re-joining: a group
 * forming, a coordinator or leader moving, a rebalance, a topic being
 * auto-created. kafkajs logs them at error level; for us they are debug.
 */
const TRANSIENT_TYPES = new Set([
  'GROUP_LOAD_IN_PROGRESS',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'NOT_COORDINATOR_FOR_GROUP',
  'REBALANCE_IN_PROGRESS',
  'UNKNOWN_MEMBER_ID',
  'ILLEGAL_GENERATION',
  'MEMBER_ID_REQUIRED',
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_FOR_PARTITION',
  'UNKNOWN_TOPIC_OR_PARTITION',
]);

/**
 * kafkajs logs a failed response with only the protocol error's message
 * (`entry.log.error`), so its own table of error codes maps the message back
 * to the error type.
 */
const typeByMessage: ReadonlyMap<string, string> = new Map(
  (createRequire(import.meta.url)('kafkajs/src/protocol/error.js') as { errorCodes: Array<{ type: string; message: string }> }).errorCodes.map(
    (e) => [e.message, e.type],
  ),
);

/**
 * True for errors kafkajs itself raised (a heartbeat that learned of a
 * rebalance, a lost connection): kafkajs must see them to re-join or
 * reconnect, so batch handlers let them through instead of retrying.
 */
export function isKafkaClientError(err: unknown): boolean {
  return err instanceof Error && err.name.startsWith('KafkaJS');
}

/** kafkajs's crash line, `Crash: <error name>: <message>`. */
const CRASH_LINE = /^Crash: KafkaJS\w+: (.*)$/s;
/** Logged after every crash kafkajs restarts from; the crash itself is logged at its own level (GroupMember). */
const RESTART_LINE = /^Restarting the consumer in \d+ms$/;

/** The pino level for a kafkajs log entry: expected transient conditions go to debug. */
export function kafkaLogLevel(entry: Pick<LogEntry, 'level' | 'log'>): 'error' | 'warn' | 'info' | 'debug' {
  const level = levels[entry.level] ?? 'info';
  if (level !== 'error' && level !== 'warn') return level;
  const { message, error, type } = entry.log as { message?: unknown; error?: unknown; type?: unknown };
  if (typeof message === 'string' && RESTART_LINE.test(message)) return 'info';
  const crashed = typeof message === 'string' ? CRASH_LINE.exec(message)?.[1] : undefined;
  const described = typeof error === 'string' ? error : crashed;
  const errorType = typeof type === 'string' ? type : described !== undefined ? typeByMessage.get(described) : undefined;
  return errorType !== undefined && TRANSIENT_TYPES.has(errorType) ? 'debug' : level;
}

/**
 * True when a consumer crash comes from an expected transient condition (a
 * group coordinator still loading after a broker start, a rebalance): kafkajs
 * restarts the consumer, so it is no error. Follows `cause` chains.
 */
export function isTransientKafkaError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string' && TRANSIENT_TYPES.has(type)) return true;
  }
  return false;
}

/** Returns a fresh OAuth bearer token; kafkajs calls it at connect and before the token expires. */
export type OAuthBearerProvider = () => Promise<OauthbearerProviderResponse>;

/** The environment variables that decide how featurestream reaches Kafka. */
export type KafkaEnv = Pick<EnvConfig, 'KAFKA_BROKERS' | 'KAFKA_CLIENT_ID'> &
  Partial<Pick<EnvConfig, 'KAFKA_SSL' | 'KAFKA_SSL_CA_FILE' | 'KAFKA_SASL_MECHANISM' | 'KAFKA_SASL_USERNAME' | 'KAFKA_SASL_PASSWORD'>>;

export interface KafkaClientOptions {
  /** Brokers, client id and security settings from the environment (or `brokers` + `clientId`). */
  env?: KafkaEnv;
  brokers?: string[];
  clientId?: string;
  logger?: Logger;
  /** For KAFKA_SASL_MECHANISM=OAUTHBEARER; else the provider set with setKafkaOAuthBearerProvider. */
  oauthBearerProvider?: OAuthBearerProvider;
  config?: Partial<KafkaConfig>;
}

let defaultOAuthProvider: OAuthBearerProvider | undefined;

/**
 * The OAUTHBEARER hook for clients the library builds itself (worker, backfill):
 * call before starting them when KAFKA_SASL_MECHANISM=OAUTHBEARER.
 */
export function setKafkaOAuthBearerProvider(provider: OAuthBearerProvider | undefined): void {
  defaultOAuthProvider = provider;
}

/** kafkajs `ssl` and `sasl` settings from the environment (validated by loadEnvConfig). */
export function kafkaSecurity(env: KafkaEnv, oauthBearerProvider?: OAuthBearerProvider): { ssl?: ConnectionOptions | boolean; sasl?: SASLOptions } {
  const out: { ssl?: ConnectionOptions | boolean; sasl?: SASLOptions } = {};
  if (env.KAFKA_SSL_CA_FILE) out.ssl = { ca: [readFileSync(env.KAFKA_SSL_CA_FILE, 'utf8')] };
  else if (env.KAFKA_SSL) out.ssl = true;
  const mechanism = env.KAFKA_SASL_MECHANISM;
  if (mechanism === 'OAUTHBEARER') {
    const provider = oauthBearerProvider ?? defaultOAuthProvider;
    if (!provider) {
      throw new ConfigError('KAFKA_SASL_MECHANISM=OAUTHBEARER needs a token provider: pass oauthBearerProvider or call setKafkaOAuthBearerProvider()');
    }
    out.sasl = { mechanism: 'oauthbearer', oauthBearerProvider: provider };
  } else if (mechanism) {
    const credentials = { username: env.KAFKA_SASL_USERNAME ?? '', password: env.KAFKA_SASL_PASSWORD ?? '' };
    const lower = mechanism.toLowerCase() as 'plain' | 'scram-sha-256' | 'scram-sha-512';
    out.sasl = { mechanism: lower, ...credentials };
  }
  return out;
}

/** A rejected SASL handshake is a configuration error that names Kafka, not an outage to retry. */
function authFailure(err: unknown, env: KafkaEnv | undefined): unknown {
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    if (e.name === 'KafkaJSSASLAuthenticationError') {
      const who = env?.KAFKA_SASL_USERNAME ? ` as user ${JSON.stringify(env.KAFKA_SASL_USERNAME)}` : '';
      return new ConfigError(`KAFKA: SASL ${env?.KAFKA_SASL_MECHANISM ?? ''} authentication failed${who}: check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (${e.message})`, {
        cause: err,
        details: { service: 'kafka' },
      });
    }
  }
  return err;
}

function withAuthErrors<T extends { connect(): Promise<void> }>(client: T, env: KafkaEnv | undefined): T {
  const connect = client.connect.bind(client);
  client.connect = () => connect().catch((err: unknown) => Promise.reject(authFailure(err, env)));
  return client;
}

/** kafkajs's Kafka, whose clients report a SASL failure as a ConfigError naming KAFKA. */
class FeaturestreamKafka extends Kafka {
  readonly #env: KafkaEnv | undefined;

  constructor(config: KafkaConfig, env: KafkaEnv | undefined) {
    super(config);
    this.#env = env;
  }

  override producer(config?: ProducerConfig) {
    return withAuthErrors(super.producer(config), this.#env);
  }

  override consumer(config: ConsumerConfig) {
    return withAuthErrors(super.consumer(config), this.#env);
  }

  override admin(config?: AdminConfig) {
    return withAuthErrors(super.admin(config), this.#env);
  }
}

export function createKafka(options: KafkaClientOptions): Kafka {
  const log = options.logger?.child({ component: 'kafkajs' });
  const brokers = options.brokers ?? options.env?.KAFKA_BROKERS;
  const clientId = options.clientId ?? options.env?.KAFKA_CLIENT_ID;
  if (!brokers || !clientId) throw new ConfigError('createKafka needs env (KAFKA_BROKERS, KAFKA_CLIENT_ID) or brokers and clientId');
  return new FeaturestreamKafka(
    {
      clientId,
      brokers,
      connectionTimeout: 3_000,
      requestTimeout: 30_000,
      retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
      logLevel: logLevel.WARN,
      logCreator: () => (entry: LogEntry) => {
        if (!log) return;
        const { message, ...rest } = entry.log;
        log[kafkaLogLevel(entry)]({ namespace: entry.namespace, ...rest }, message);
      },
      ...(options.env ? kafkaSecurity(options.env, options.oauthBearerProvider) : {}),
      ...options.config,
    },
    options.env,
  );
}
