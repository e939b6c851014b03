import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** One root logger per process; modules take a child with their own `component`. */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  const opts: LoggerOptions = {
    name: options.name ?? 'featurestream',
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
  };
  // Logs go to stderr so CLI commands can keep stdout for machine-readable output.
  return pino(opts, pino.destination(2));
}
