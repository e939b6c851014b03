/**
 * `featurestream worker`: runs one materialization worker until SIGTERM or
 * SIGINT, then shuts down gracefully (finish the batch, commit, leave the group).
 */
import type { Command } from 'commander';
import { loadEnvConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { loadRegistryFile } from '../schemas/registry.ts';
import { createWorker, WORKER_DEFAULTS } from '../consumers/worker.ts';
import { stopOnSignals } from './shutdown.ts';
import type { WaitReplicas } from '../stores/node-pipelines.ts';
import { childReady, superviseWorkers } from './worker-processes.ts';
import { childMetrics, isChildProcess } from './supervisor.ts';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`--metrics-port ${value}: expected 0-65535`);
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${value}: expected a positive integer`);
  return n;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${value}: expected an integer >= 0`);
  return n;
}

function replicas(value: string): WaitReplicas {
  if (value === 'auto') return 'auto';
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`--wait-replicas ${value}: expected auto or a replica count >= 0`);
  return n;
}

export function register(program: Command): void {
  program
    .command('worker')
    .description('consume the source topics and materialize feature vectors into Redis')
    .option('--config <file>', 'feature registry: JSON, or a TS/JS module exporting it (default: built-in registry)')
    .option('--group <id>', 'Kafka consumer group id', WORKER_DEFAULTS.groupId)
    .option('--metrics-port <n>', 'port for /metrics, /healthz, /readyz (default: METRICS_PORT)', port)
    .option('--session-timeout <ms>', 'Kafka group session timeout: how fast a dead worker\'s partitions move', positiveInt, WORKER_DEFAULTS.sessionTimeoutMs)
    .option(
      '--wait-replicas <n|auto>',
      'replicas each write must reach (WAIT) before its offsets commit; auto = 1 when the master has replicas, 0 disables',
      replicas,
      WORKER_DEFAULTS.waitReplicas,
    )
    .option('--wait-timeout <ms>', 'how long one WAIT may take before the batch is retried', positiveInt, WORKER_DEFAULTS.waitTimeoutMs)
    .option('--no-dual-write', 'do not copy vectors to DynamoDB')
    .option('--no-sync-workers', 'enqueue DynamoDB sync jobs but leave them to `featurestream sync` processes')
    .option('--co-partitioned', 'source topics are co-partitioned and keyed by entity id: fence writes by partition epoch alone (no per-entity _version read)')
    .option(
      '--checkpoint-interval <ms>',
      'write-behind: batches write vectors only, states are checkpointed this often and offsets commit after each checkpoint (needs --co-partitioned); 0 = every batch writes its states and commits',
      nonNegativeInt,
      WORKER_DEFAULTS.checkpointIntervalMs,
    )
    .option('--checkpoint-events <n>', 'write-behind: also checkpoint a partition once its batches carried this many events', positiveInt, WORKER_DEFAULTS.checkpointEvents)
    .option('--processes <n>', 'worker processes on this machine, all in the same group (one per core); a supervisor restarts any that dies', positiveInt, 1)
    .action(async (opts: {
      config?: string;
      group: string;
      metricsPort?: number;
      sessionTimeout: number;
      waitReplicas: WaitReplicas;
      waitTimeout: number;
      dualWrite: boolean;
      syncWorkers: boolean;
      coPartitioned?: boolean;
      checkpointInterval: number;
      checkpointEvents: number;
      processes: number;
    }) => {
      if (opts.checkpointInterval > 0 && opts.coPartitioned !== true) throw new ConfigError('--checkpoint-interval needs --co-partitioned (one writer per entity)');
      const env = loadEnvConfig();
      const logger = createLogger({ level: env.LOG_LEVEL });
      const registry = await loadRegistryFile(opts.config);
      const metricsPort = opts.metricsPort ?? env.METRICS_PORT;
      // The supervisor (src/cli/worker-processes.ts) forks this same command; its children serve no HTTP.
      const child = isChildProcess();
      if (opts.processes > 1 && !child) {
        process.exitCode = await superviseWorkers({ processes: opts.processes, metricsPort, logger });
        return;
      }
      if (child) childMetrics();
      const worker = createWorker({
        registry,
        env,
        groupId: opts.group,
        metricsPort: child ? false : metricsPort,
        sessionTimeoutMs: opts.sessionTimeout,
        waitReplicas: opts.waitReplicas,
        waitTimeoutMs: opts.waitTimeout,
        dualWrite: opts.dualWrite,
        runSyncWorkers: opts.syncWorkers,
        coPartitioned: opts.coPartitioned === true,
        checkpointIntervalMs: opts.checkpointInterval,
        checkpointEvents: opts.checkpointEvents,
        logger,
      });
      stopOnSignals(logger, () => worker.stop());
      await worker.start();
      if (child) childReady();
    });
}
