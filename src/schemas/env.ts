import { accessSync, constants, statSync } from 'node:fs';
import { z } from 'zod';

const hostPort = z.string().regex(/^[^\s:,]+:\d{1,5}$/, 'expected host:port');

const urlWithProtocol = (protocols: string[]) =>
  z
    .string()
    .trim()
    .refine((v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, `expected a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);

/** A path to a PEM file that exists and can be read (checked once, at start-up). */
const readableFile = z
  .string()
  .trim()
  .refine((path) => {
    try {
      accessSync(path, constants.R_OK);
      return statSync(path).isFile();
    } catch {
      return false;
    }
  }, 'expected a readable file');

const flag = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no']))
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER'] as const;

/** Variables whose values are never printed, not even in a validation error (REDIS_URL: its password part). */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set(['KAFKA_SASL_PASSWORD', 'REDIS_PASSWORD', 'FEATURESTREAM_SERVER_TOKEN']);

/** Environment variables featurestream reads; defaults match docker-compose.yml. */
export const envFields = z.object({
  KAFKA_BROKERS: z
    .string()
    .default('127.0.0.1:9092')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(hostPort).min(1, 'expected at least one host:port')),
  KAFKA_CLIENT_ID: z.string().min(1).default('featurestream'),
  REDIS_URL: urlWithProtocol(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  /** Comma-separated host:port seeds; when set, Redis is used as a Cluster. */
  REDIS_CLUSTER_NODES: z
    .string()
    .optional()
    .transform((v) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined))
    .pipe(z.array(hostPort).min(1).optional()),
  DYNAMODB_ENDPOINT: urlWithProtocol(['http:', 'https:']).optional(),
  DYNAMODB_TABLE: z
    .string()
    .regex(/^[a-zA-Z0-9_.-]{3,255}$/, 'expected 3-255 characters of a-z A-Z 0-9 _ . -')
    .default('featurestream'),
  AWS_REGION: z.string().min(1).default('us-east-1'),
  FEATURESTREAM_KEY_PREFIX: z
    .string()
    .regex(/^[a-zA-Z0-9_.:-]*$/, 'expected only a-z A-Z 0-9 _ . : -')
    .default(''),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** TLS to the brokers; implied by KAFKA_SSL_CA_FILE. */
  KAFKA_SSL: flag.optional(),
  /** PEM bundle of the CA(s) that signed the brokers' certificates (else the system store). */
  KAFKA_SSL_CA_FILE: readableFile.optional(),
  KAFKA_SASL_MECHANISM: z
    .string()
    .trim()
    .toUpperCase()
    .pipe(z.enum(SASL_MECHANISMS, { error: `expected one of ${SASL_MECHANISMS.join(', ')}` }))
    .optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  /** PEM bundle of the CA(s) that signed the Redis servers' certificates; turns TLS on. */
  REDIS_TLS_CA_FILE: readableFile.optional(),
  /** ACL user and password (AUTH); override the ones in REDIS_URL. */
  REDIS_USERNAME: z.string().min(1).optional(),
  REDIS_PASSWORD: z.string().min(1).optional(),
  /** `featurestream serve`: bearer token every request but /healthz must carry. */
  FEATURESTREAM_SERVER_TOKEN: z.string().min(16, 'expected at least 16 characters').optional(),
});

/** Cross-field rules: each issue names the variable to fix. */
export const envSchema = envFields.superRefine((env, ctx) => {
  const m = env.KAFKA_SASL_MECHANISM;
  if (m && m !== 'OAUTHBEARER') {
    for (const name of ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const) {
      if (!env[name]) ctx.addIssue({ code: 'custom', path: [name], message: `required when KAFKA_SASL_MECHANISM=${m}` });
    }
  }
  if (!m && (env.KAFKA_SASL_USERNAME || env.KAFKA_SASL_PASSWORD)) {
    ctx.addIssue({ code: 'custom', path: ['KAFKA_SASL_MECHANISM'], message: 'required when KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD is set' });
  }
  if (env.KAFKA_SSL === false && env.KAFKA_SSL_CA_FILE) {
    ctx.addIssue({ code: 'custom', path: ['KAFKA_SSL'], message: 'KAFKA_SSL_CA_FILE is set, so TLS cannot be off' });
  }
  if (env.REDIS_USERNAME && !env.REDIS_PASSWORD) {
    ctx.addIssue({ code: 'custom', path: ['REDIS_PASSWORD'], message: 'required when REDIS_USERNAME is set' });
  }
});

export type EnvConfig = z.output<typeof envSchema>;
