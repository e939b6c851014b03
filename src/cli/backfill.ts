/**
 * `featurestream backfill`: replays the source topics into a new keyspace
 * version (see consumers/backfill/backfill.ts). Rerunning the same command
 * after a kill resumes the same build. SIGTERM/SIGINT stop it after the
 * running batches commit (exit 0; exit 2 when it ended incomplete otherwise);
 * it can be resumed later the same way.
 */
import type { Command } from 'commander';
import { loadEnvConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { collectProcessMetrics, registry as metricsRegistry } from '../metrics.ts';
import { startHttpServer } from '../http-server.ts';
import { loadRegistryFile } from '../schemas/registry.ts';
import { parseEventTime } from '../schemas/events.ts';
import { createBackfill } from '../consumers/backfill/backfill.ts';
import { WORKER_DEFAULTS } from '../consumers/worker.ts';
import { stopOnSignals } from './shutdown.ts';
import { positiveInt } from './sync.ts';

function time(flag: string, allowEarliest: boolean): (value: string) => number | 'earliest' {
  return (value) => {
    if (allowEarliest && value === 'earliest') return 'earliest';
    const ms = parseEventTime(value);
    if (ms === undefined) throw new ConfigError(`${flag} ${value}: expected an ISO-8601 time${allowEarliest ? ' or `earliest`' : ''}`);
    return ms;
  };
}

function rate(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`--rate ${value}: expected a positive number of events per second`);
  return n;
}

interface Opts {
  from: number | 'earliest';
  to?: number;
  switch?: boolean;
  topics?: string;
  config?: string;
  rate?: number;
  group?: string;
  liveGroup: string;
  sessionTimeout: number;
  metricsPort?: number;
  progress?: boolean;
  dualWrite?: boolean;
  switchLag?: number;
}

export function register(program: Command): void {
  program
    .command('backfill')
    .description(
      'replay the source topics into a new keyspace version and hand it over to the live workers ' +
        '(workers whose --config differs must be restarted with the new config once the pointer has switched)',
    )
    .requiredOption('--from <time>', 'first event time to replay: ISO-8601 or `earliest`', time('--from', true))
    .option('--to <time>', 'replay only up to the offsets at this ISO-8601 time; builds the version without switching', time('--to', false))
    .option('--switch', 'with --to: afterwards continue to the live end and hand over')
    .option('--topics <list>', 'comma-separated source topics to replay (default: all of the registry)')
    .option('--config <file>', 'feature registry of the new version (default: built-in registry)')
    .option('--rate <events/s>', 'limit replayed events per second (protects Redis)', rate)
    .option('--group <id>', 'backfill consumer group (default: featurestream-backfill-v<N>)')
    .option('--live-group <id>', 'the live workers\' consumer group', WORKER_DEFAULTS.groupId)
    .option('--session-timeout <ms>', 'Kafka group session timeout', positiveInt('--session-timeout', 300_000, 1_000), WORKER_DEFAULTS.sessionTimeoutMs)
    .option('--metrics-port <n>', 'port for /metrics (default: none)', positiveInt('--metrics-port', 65535, 0))
    .option('--switch-lag <messages>', 'switch the pointer once the backfill is this close to the live end (default 1000)', positiveInt('--switch-lag', 10_000_000, 0))
    .option('--no-progress', 'no progress bar or lines')
    .option('--no-dual-write', 'do not queue the rebuilt vectors for the DynamoDB sync')
    .action(async (opts: Opts) => {
      const env = loadEnvConfig();
      const logger = createLogger({ level: env.LOG_LEVEL });
      const registry = await loadRegistryFile(opts.config);
      if (opts.switch && opts.to === undefined) throw new ConfigError('--switch only applies with --to (without --to the backfill always switches)');
      const backfill = createBackfill({
        registry,
        env,
        since: opts.from,
        ...(opts.to === undefined ? {} : { until: opts.to, handover: opts.switch === true }),
        ...(opts.topics ? { topics: opts.topics.split(',').map((t) => t.trim()).filter(Boolean) } : {}),
        ...(opts.rate === undefined ? {} : { rate: opts.rate }),
        ...(opts.group === undefined ? {} : { groupId: opts.group }),
        liveGroupId: opts.liveGroup,
        dualWrite: opts.dualWrite !== false,
        ...(opts.switchLag === undefined ? {} : { switchLag: opts.switchLag }),
        sessionTimeoutMs: opts.sessionTimeout,
        logger,
        progress: opts.progress === false ? 'none' : process.stderr.isTTY ? 'bar' : 'lines',
      });
      let http: Awaited<ReturnType<typeof startHttpServer>> | undefined;
      if (opts.metricsPort !== undefined) {
        collectProcessMetrics();
        http = await startHttpServer({ port: opts.metricsPort, registry: metricsRegistry, health: () => ({ ok: true }), ready: () => ({ ok: true }) });
      }
      const finished = backfill.run().then(async (summary) => {
        await http?.close();
        // stdout stays machine-readable: one JSON line with the outcome.
        process.stdout.write(`${JSON.stringify(summary)}\n`);
        return summary;
      });
      stopOnSignals(logger, async () => {
        backfill.stop();
        await finished;
      });
      if (!(await finished).completed) process.exitCode = 2;
    });
}
