import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Secret fields are censored wherever a log call passes them: credentials in
 * client options, SASL settings, or an env config logged whole.
 */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  'sasl.password',
  '*.sasl.password',
  'KAFKA_SASL_PASSWORD',
  '*.KAFKA_SASL_PASSWORD',
  'REDIS_PASSWORD',
  '*.REDIS_PASSWORD',
];

/** One root logger per process; modules take a child with their own `component`. */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  const opts: LoggerOptions = {
    name: options.name ?? 'featurestream',
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  // Logs go to stderr so CLI commands can keep stdout for machine-readable output.
  return pino(opts, pino.destination(2));
}
