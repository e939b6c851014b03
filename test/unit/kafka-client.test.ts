import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkaLogLevel, kafkaSecurity, setKafkaOAuthBearerProvider } from '../../src/consumers/kafka-client.ts';
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

  it('keeps every other error and warning at its level', () => {
    expect(kafkaLogLevel({ level: logLevel.ERROR, log: { message: 'Response Produce', error: 'The request included a message larger than the max message size the server will accept', timestamp: '' } })).toBe('error');
    expect(kafkaLogLevel({ level: logLevel.ERROR, log: { message: 'Crash: KafkaJSNumberOfRetriesExceeded', timestamp: '' } })).toBe('error');
    expect(kafkaLogLevel({ level: logLevel.WARN, log: { message: 'x', timestamp: '' } })).toBe('warn');
    expect(kafkaLogLevel({ level: logLevel.INFO, log: { message: 'x', timestamp: '' } })).toBe('info');
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
