/**
 * `featurestream serve --port N`: the HTTP feature server (src/server). Binds
 * 127.0.0.1 unless --host says otherwise; FEATURESTREAM_SERVER_TOKEN, when
 * set, is the bearer token every request but /healthz must carry. SIGTERM or
 * SIGINT drains requests in flight, then exits.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { loadEnvConfig } from '../config.ts';
import { createLogger } from '../logger.ts';
import { collectProcessMetrics, registry as processMetrics } from '../metrics.ts';
import { loadRegistryFile } from '../schemas/registry.ts';
import { createFeatureServer } from '../server/server.ts';
import { createFeatureReader } from '../serving/reader.ts';
import { childListening, childMetricsSource, superviseServers } from './serve-processes.ts';
import { childMetrics, isChildProcess } from './supervisor.ts';

interface ServeFlags {
  port: number;
  host: string;
  config?: string;
  deadline: number;
  maxIds: number;
  bodyLimit: number;
  processes: number;
  /** False with --no-decode-memo. */
  decodeMemo: boolean;
}

/** How long shutdown lets requests in flight finish (the server's drain), then a margin before a child is killed. */
const DRAIN_MS = 10_000;

function whole(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected a whole number >= ${min}`);
    return n;
  };
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve feature vectors over HTTP: POST /features, /metrics, /healthz, /readyz')
    .option('--port <n>', 'port to listen on (0 picks a free one)', whole(0), 8080)
    .option('--host <addr>', 'address to bind; 0.0.0.0 exposes it beyond this machine', '127.0.0.1')
    .option('--config <file>', 'feature registry (.json, or a module exporting defineConfig); default: the built-in registry')
    .option('--deadline <ms>', 'per-request deadline', whole(1), 50)
    .option('--max-ids <n>', 'most ids per request', whole(1), 1_000)
    .option('--body-limit <bytes>', 'largest request body', whole(1), 1_048_576)
    .option('--processes <n>', 'server processes sharing the port (one per core); a supervisor restarts any that dies', whole(1), 1)
    .option('--no-decode-memo', 'decode every packed vector read, even when its bytes are unchanged since the last read')
    .action(async (flags: ServeFlags) => {
      const env = loadEnvConfig();
      const logger = createLogger({ level: env.LOG_LEVEL });
      // The supervisor (serve-processes.ts) forks this same command; each child is a whole server.
      const child = isChildProcess();
      if (flags.processes > 1 && !child) {
        const auth = env.FEATURESTREAM_SERVER_TOKEN ? 'bearer' : 'none';
        process.exitCode = await superviseServers({ processes: flags.processes, host: flags.host, auth, logger, stopGraceMs: DRAIN_MS + 5_000 });
        return;
      }
      // CPU, memory, event-loop lag and GC pauses, as the worker exports them (a child's go to the primary's sum).
      if (child) childMetrics();
      else collectProcessMetrics();
      const reader = createFeatureReader({
        registry: await loadRegistryFile(flags.config),
        deadlineMs: flags.deadline,
        logger,
        ...(flags.decodeMemo ? {} : { decodeMemo: false as const }),
      });
      const token = env.FEATURESTREAM_SERVER_TOKEN;
      const server = createFeatureServer({
        reader,
        metrics: child ? childMetricsSource() : processMetrics,
        logger,
        maxIds: flags.maxIds,
        bodyLimitBytes: flags.bodyLimit,
        drainMs: DRAIN_MS,
        ...(token ? { token } : {}),
      });
      // Requests before Redis connects would all be served from the fallbacks: give it a moment first.
      if (!(await reader.ready(5_000))) logger.warn('redis not connected yet; serving fallbacks until it is (see /readyz)');
      const port = await server.listen(flags.port, flags.host);
      if (child) childListening(port);
      else logger.info({ host: flags.host, port, auth: token ? 'bearer' : 'none' }, 'feature server listening');
      const stop = () => {
        logger.info('feature server draining');
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
