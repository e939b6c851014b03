import { describe, expect, it } from 'vitest';
import { loadEnvConfig } from '../../src/config.ts';
import { ConfigError } from '../../src/errors.ts';

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
