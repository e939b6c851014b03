/**
 * `featurestream sync`: runs DynamoDB sync workers in their own process until
 * SIGTERM or SIGINT (the worker command can also run them in-process).
 */
import type { Command } from 'commander';
import { stopOnSignals } from './shutdown.ts';
import { loadEnvConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { collectProcessMetrics, registry as metricsRegistry } from '../metrics.ts';
import { startHttpServer } from '../http-server.ts';
import { loadRegistryFile } from '../schemas/registry.ts';
import { startSyncService } from '../sync/service.ts';
import { SYNC_WORKER_DEFAULTS } from '../sync/worker.ts';

export function positiveInt(flag: string, max = 65535, min = 1): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${flag} ${value}: expected a whole number ${min}-${max}`);
    return n;
  };
}

export function register(program: Command): void {
  program
    .command('sync')
    .description('copy feature vectors written to Redis into DynamoDB (runs sync workers)')
    .option('--config <file>', 'feature registry: JSON, or a TS/JS module exporting it (default: built-in registry)')
    .option('--concurrency <n>', 'sync jobs processed at once', positiveInt('--concurrency', 256), SYNC_WORKER_DEFAULTS.concurrency)
    .option('--write-concurrency <n>', 'DynamoDB writes in flight at once', positiveInt('--write-concurrency', 4096), SYNC_WORKER_DEFAULTS.writeConcurrency)
    .option('--metrics-port <n>', 'port for /metrics, /healthz, /readyz (default: METRICS_PORT)', positiveInt('--metrics-port', 65535, 0))
    .action(async (opts: { config?: string; concurrency: number; writeConcurrency: number; metricsPort?: number }) => {
      const env = loadEnvConfig();
      const logger = createLogger({ level: env.LOG_LEVEL });
      const registry = await loadRegistryFile(opts.config);
      const service = await startSyncService({ env, registry, logger, concurrency: opts.concurrency, writeConcurrency: opts.writeConcurrency });
      collectProcessMetrics();
      const http = await startHttpServer({
        port: opts.metricsPort ?? env.METRICS_PORT,
        registry: metricsRegistry,
        health: () => ({ ok: true }),
        ready: () => ({ ok: service.sync.worker.isRunning() }),
      });
      logger.info({ table: env.DYNAMODB_TABLE, metricsPort: http.port }, 'sync started');
      stopOnSignals(logger, () => Promise.all([service.close(), http.close()]));
    });
}
