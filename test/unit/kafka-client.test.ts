import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { KafkaJSNumberOfRetriesExceeded, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { isTransientKafkaError, kafkaLogLevel, kafkaSecurity, setKafkaOAuthBearerProvider } from '../../src/consumers/kafka-client.ts';
import { ConfigError } from '../../src/errors.ts';
import { redisSecurity } from '../../src/stores/redis.ts';

const env = { KAFKA_BROKERS: ['127.0.0.1:9092'], KAFKA_CLIENT_ID: 'fs' };

describe('kafkaLogLevel', () => {
  it('puts the protocol errors of a forming group or a moving leader at debug', () => {
    const entry = (error: string) => ({ level: logLevel.ERROR, log: { message: 'Response GroupCoordinator(key: 10, version: 2)', error, timestamp: '' } });
    expect(kafkaLogLevel(entry('The group coordinator is not available'))).toBe('debug');
    expect(kafkaLogLevel(entry('This is not the correct coordinator for this group'))).toBe('debug');
    expect(kafkaLogLevel(entry('There is no leader for this topic-partition as we are in the middle of a leadership election'))).toBe('debug');
    expect(kafkaLogLevel({ level: logLevel.WARN, log: { message: 'x', type: 'REBALANCE_IN_PROGRESS', timestamp: '' } })).toBe('debug');
  });

  it('puts a consumer crash on a loading coordinator at debug and the restart notice at info (a broker just started)', () => {
    const loading = "The coordinator is loading and hence can't process requests for this group";
    expect(kafkaLogLevel({ level: logLevel.ERROR, log: { message: `Crash: KafkaJSProtocolError: ${loading}`, timestamp: '' } })).toBe('debug');
    expect(kafkaLogLevel({ level: logLevel.ERROR, log: { message: 'Restarting the consumer in 200ms', timestamp: '' } })).toBe('info');
    expect(kafkaLogLevel({ level: logLevel.ERROR, log: { message: 'Crash: KafkaJSProtocolError: The request included a message larger than the max message size the server will accept', timestamp: '' } })).toBe('error');
  });

  it('keeps every other error and warning at its level', () => {
    expect(kafkaLogLevel({ level: logLevel.ERROR, log: { message: 'Response Produce', error: 'The request included a message larger than the max message size the server will accept', timestamp: '' } })).toBe('error');
    expect(kafkaLogLevel({ level: logLevel.ERROR, log: { message: 'Crash: KafkaJSNumberOfRetriesExceeded', timestamp: '' } })).toBe('error');
    expect(kafkaLogLevel({ level: logLevel.WARN, log: { message: 'x', timestamp: '' } })).toBe('warn');
    expect(kafkaLogLevel({ level: logLevel.INFO, log: { message: 'x', timestamp: '' } })).toBe('info');
  });
});

describe('isTransientKafkaError', () => {
  // The protocol errors exactly as kafkajs raises them from a broker's error code.
  const { createErrorFromCode } = createRequire(import.meta.url)('kafkajs/src/protocol/error.js') as { createErrorFromCode(code: number): Error & { type: string } };

  it('is true for a loading coordinator or a rebalance, also as the cause of a retries-exceeded crash', () => {
    const loading = createErrorFromCode(14);
    expect(loading.type).toBe('GROUP_LOAD_IN_PROGRESS');
    expect(isTransientKafkaError(loading)).toBe(true);
    expect(isTransientKafkaError(new KafkaJSNumberOfRetriesExceeded(createErrorFromCode(27), { retryCount: 5, retryTime: 1_000 }))).toBe(true);
  });

  it('is false for any other error', () => {
    expect(createErrorFromCode(10).type).toBe('MESSAGE_TOO_LARGE');
    expect(isTransientKafkaError(createErrorFromCode(10))).toBe(false);
    expect(isTransientKafkaError(new Error('boom'))).toBe(false);
    expect(isTransientKafkaError('GROUP_LOAD_IN_PROGRESS')).toBe(false);
  });
});

describe('kafkaSecurity', () => {
  const ca = join(mkdtempSync(join(tmpdir(), 'fs-kc-')), 'ca.pem');
  writeFileSync(ca, 'PEM');

  it('is plaintext without security variables', () => {
    expect(kafkaSecurity(env)).toEqual({});
  });

  it('builds TLS with the CA and SASL with the mechanism kafkajs names', () => {
    expect(kafkaSecurity({ ...env, KAFKA_SSL_CA_FILE: ca, KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' })).toEqual({
      ssl: { ca: ['PEM'] },
      sasl: { mechanism: 'scram-sha-256', username: 'u', password: 'p' },
    });
    expect(kafkaSecurity({ ...env, KAFKA_SSL: true, KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' })).toMatchObject({ ssl: true, sasl: { mechanism: 'plain' } });
  });

  it('OAUTHBEARER takes the provider passed or set, and fails clearly without one', () => {
    const oauth = { ...env, KAFKA_SSL: true, KAFKA_SASL_MECHANISM: 'OAUTHBEARER' as const };
    expect(() => kafkaSecurity(oauth)).toThrow(ConfigError);
    expect(() => kafkaSecurity(oauth)).toThrow(/KAFKA_SASL_MECHANISM=OAUTHBEARER/);
    const provider = async () => ({ value: 'token' });
    expect(kafkaSecurity(oauth, provider).sasl).toEqual({ mechanism: 'oauthbearer', oauthBearerProvider: provider });
    setKafkaOAuthBearerProvider(provider);
    try {
      expect(kafkaSecurity(oauth).sasl).toEqual({ mechanism: 'oauthbearer', oauthBearerProvider: provider });
    } finally {
      setKafkaOAuthBearerProvider(undefined);
    }
  });

  it('redisSecurity builds TLS with the CA and the ACL user', () => {
    expect(redisSecurity({ REDIS_URL: 'redis://h:1', REDIS_CLUSTER_NODES: undefined })).toEqual({});
    expect(redisSecurity({ REDIS_URL: 'redis://h:1', REDIS_CLUSTER_NODES: undefined, REDIS_TLS_CA_FILE: ca, REDIS_USERNAME: 'fs', REDIS_PASSWORD: 'pw' })).toEqual({
      tls: { ca: ['PEM'] },
      username: 'fs',
      password: 'pw',
    });
  });
});
