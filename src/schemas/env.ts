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

/** Environment variables featurestream reads; defaults match docker-compose.yml. */
export const envSchema = z.object({
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
});

export type EnvConfig = z.output<typeof envSchema>;
