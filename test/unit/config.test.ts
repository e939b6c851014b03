import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadEnvConfig } from '../../src/config.ts';
import { ConfigError } from '../../src/errors.ts';
import { REDACTED_PATHS } from '../../src/logger.ts';

describe('loadEnvConfig', () => {
  it('applies defaults and parses lists', () => {
    const cfg = loadEnvConfig({ KAFKA_BROKERS: 'a:1, b:2', REDIS_URL: '' });
    expect(cfg.KAFKA_BROKERS).toEqual(['a:1', 'b:2']);
    expect(cfg.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(cfg.DYNAMODB_TABLE).toBe('featurestream');
    expect(cfg.DYNAMODB_ENDPOINT).toBeUndefined();
    expect(cfg.METRICS_PORT).toBe(9464);
  });

  it.each([
    ['KAFKA_BROKERS', 'no-port'],
    ['REDIS_URL', 'http://x:1'],
    ['DYNAMODB_ENDPOINT', 'localhost:8000'],
    ['DYNAMODB_TABLE', 'a'],
    ['METRICS_PORT', '70000'],
    ['LOG_LEVEL', 'loud'],
  ])('rejects a bad %s with an error naming it', (name, value) => {
    let caught: unknown;
    try {
      loadEnvConfig({ [name]: value });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).code).toBe('CONFIG_INVALID');
    expect((caught as ConfigError).retriable).toBe(false);
    expect((caught as ConfigError).message).toContain(`${name}=`);
  });
});

describe('loadEnvConfig: secured connections', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fs-config-'));
  const ca = join(dir, 'ca.pem');
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');

  function failure(env: NodeJS.ProcessEnv): ConfigError {
    try {
      loadEnvConfig(env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return err as ConfigError;
    }
    throw new Error('expected a ConfigError');
  }

  it('parses Kafka SASL over TLS and Redis TLS with an ACL user', () => {
    const cfg = loadEnvConfig({
      KAFKA_SSL_CA_FILE: ca,
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'alice',
      KAFKA_SASL_PASSWORD: 's3cret',
      REDIS_TLS_CA_FILE: ca,
      REDIS_USERNAME: 'fs',
      REDIS_PASSWORD: 'pw',
    });
    expect(cfg.KAFKA_SASL_MECHANISM).toBe('SCRAM-SHA-512');
    expect(cfg.KAFKA_SSL_CA_FILE).toBe(ca);
    expect(cfg.REDIS_USERNAME).toBe('fs');
    expect(loadEnvConfig({ KAFKA_SSL: 'true' }).KAFKA_SSL).toBe(true);
    expect(loadEnvConfig({ KAFKA_SSL: '0' }).KAFKA_SSL).toBe(false);
  });

  it('a mechanism needs a username and a password, and credentials need a mechanism', () => {
    const e = failure({ KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'alice' });
    expect(e.message).toContain('KAFKA_SASL_PASSWORD');
    expect(e.message).toMatch(/required when KAFKA_SASL_MECHANISM=PLAIN/);
    expect(failure({ KAFKA_SASL_USERNAME: 'alice', KAFKA_SASL_PASSWORD: 'x' }).message).toContain('KAFKA_SASL_MECHANISM');
    expect(failure({ KAFKA_SASL_MECHANISM: 'GSSAPI' }).message).toMatch(/KAFKA_SASL_MECHANISM="GSSAPI": expected one of PLAIN/);
    expect(loadEnvConfig({ KAFKA_SASL_MECHANISM: 'OAUTHBEARER' }).KAFKA_SASL_MECHANISM).toBe('OAUTHBEARER');
    expect(failure({ REDIS_USERNAME: 'fs' }).message).toContain('REDIS_PASSWORD');
    expect(failure({ KAFKA_SSL: 'false', KAFKA_SSL_CA_FILE: ca }).message).toContain('KAFKA_SSL');
  });

  it('CA files must exist and be readable files', () => {
    expect(failure({ KAFKA_SSL_CA_FILE: join(dir, 'missing.pem') }).message).toMatch(/KAFKA_SSL_CA_FILE=".*missing.pem": expected a readable file/);
    expect(failure({ REDIS_TLS_CA_FILE: dir }).message).toMatch(/REDIS_TLS_CA_FILE=.*expected a readable file/);
  });

  it('never echoes a secret in the error', () => {
    const e = failure({ KAFKA_SASL_MECHANISM: 'NOPE', KAFKA_SASL_USERNAME: 'alice', KAFKA_SASL_PASSWORD: 'hunter2-secret', REDIS_URL: 'http://u:topsecret@h:1' });
    expect(e.message).not.toContain('hunter2-secret');
    expect(e.message).not.toContain('topsecret');
    expect(e.message).toContain('REDIS_URL=');
    const empty = failure({ KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'alice', KAFKA_SASL_PASSWORD: ' ', REDIS_PASSWORD: 'pw-zzz', REDIS_USERNAME: 'x', REDIS_TLS_CA_FILE: '/nope' });
    expect(empty.message).not.toContain('pw-zzz');
  });

  it('the logger censors secret fields', () => {
    const lines: string[] = [];
    const logger = pino({ redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, { write: (l: string) => void lines.push(l) });
    logger.info({ env: { KAFKA_SASL_PASSWORD: 'k-secret', REDIS_PASSWORD: 'r-secret' }, sasl: { password: 's-secret' }, password: 'p-secret' }, 'x');
    expect(lines.join('')).not.toMatch(/k-secret|r-secret|s-secret|p-secret/);
    expect(lines.join('')).toContain('[redacted]');
  });
});
