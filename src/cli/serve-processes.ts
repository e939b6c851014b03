/**
 * `featurestream serve --processes N`: one primary supervising N server
 * processes (node:cluster) that share the listening port, so one machine's
 * cores all serve requests. Each child is an ordinary `featurestream serve`
 * with its own reader (connections, cache, breakers).
 *
 * The primary serves nothing itself. It logs `feature server listening` once
 * every child listens; it re-forks a child that dies, with backoff; it answers
 * a child's request for the metrics of all children (summed by prom-client's
 * AggregatorRegistry, as `worker --processes` does), so /metrics on the shared
 * port is the whole server's whichever child answers it; and on SIGTERM or
 * SIGINT it forwards SIGTERM, each child drains its requests in flight, and
 * it exits 0 once all have exited 0.
 */
import type { Worker as ClusterWorker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { MetricsSource } from '../http-server.ts';
import type { Logger } from '../logger.ts';
import { ChildPool, type Slot } from './supervisor.ts';

const READY = 'featurestream:serve-ready';
const METRICS_REQUEST = 'featurestream:serve-metrics';
const METRICS_REPLY = 'featurestream:serve-metrics-reply';
/** How long a child answering the primary's metrics request may take. */
const METRICS_TIMEOUT_MS = 5_000;

type Message = { type?: unknown; id?: unknown; text?: unknown; error?: unknown; port?: unknown };

const message = (m: unknown): Message => (typeof m === 'object' && m !== null ? (m as Message) : {});

/** In a child, once listening: the primary counts it as serving. */
export function childListening(port: number): void {
  process.send?.({ type: READY, port });
}

/** In a child: /metrics as the sum over all children, asked of the primary. */
export function childMetricsSource(): MetricsSource {
  const pending = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  let next = 0;
  process.on('message', (raw: unknown) => {
    const m = message(raw);
    if (m.type !== METRICS_REPLY || typeof m.id !== 'number') return;
    const waiter = pending.get(m.id);
    if (!waiter) return;
    pending.delete(m.id);
    clearTimeout(waiter.timer);
    if (typeof m.text === 'string') waiter.resolve(m.text);
    else waiter.reject(new Error(`metrics of the server processes: ${String(m.error)}`));
  });
  return {
    contentType: AggregatorRegistry.PROMETHEUS_CONTENT_TYPE,
    metrics: () =>
      new Promise((resolve, reject) => {
        const id = next++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error('metrics of the server processes: the primary did not answer'));
        }, METRICS_TIMEOUT_MS);
        pending.set(id, { resolve, reject, timer });
        process.send?.({ type: METRICS_REQUEST, id });
      }),
  };
}

/**
 * The young generation a server process runs with. A batch-100 answer leaves
 * ~0.25 MB of short-lived garbage: with V8's default 16 MB semi-space that is a
 * scavenge every ~60 requests, each pausing every request in flight, and the
 * requests in flight at each scavenge survive it and get promoted, which
 * brings the longer old-generation pauses. 32 MB halves both (measured with
 * --trace-gc at 300 req/s: ~50 scavenges per 2,500 requests → ~22, no
 * Mark-Compact). A flag of the caller's own (NODE_OPTIONS or node's command
 * line) wins.
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];

/** SERVER_NODE_FLAGS less those the caller already set (by name). */
export function serverNodeFlags(): string[] {
  const own = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].map((flag) => flag.split('=')[0]);
  return SERVER_NODE_FLAGS.filter((flag) => !own.includes(flag.split('=')[0]));
}

export interface ServeSupervisorOptions {
  processes: number;
  host: string;
  /** For the `listening` line: `bearer` or `none`. */
  auth: string;
  logger: Logger;
  /** How long a stopping child may drain before it is killed. */
  stopGraceMs: number;
}

/** Runs the primary until SIGTERM/SIGINT; resolves with the exit code once every child has stopped. */
export async function superviseServers(o: ServeSupervisorOptions): Promise<number> {
  const { logger } = o;
  const aggregator = new AggregatorRegistry();
  let port: number | undefined;
  let announced = false;

  const onMessage = (slot: Slot, child: ClusterWorker, raw: unknown) => {
    const m = message(raw);
    if (m.type === READY && typeof m.port === 'number') {
      slot.ready = true;
      port ??= m.port;
      if (!announced && pool.slots.every((s) => s.ready)) {
        announced = true;
        logger.info({ host: o.host, port, auth: o.auth, processes: o.processes }, 'feature server listening');
      }
    } else if (m.type === METRICS_REQUEST) {
      aggregator.clusterMetrics().then(
        (text) => child.isConnected() && child.send({ type: METRICS_REPLY, id: m.id, text }),
        (err: unknown) => child.isConnected() && child.send({ type: METRICS_REPLY, id: m.id, error: (err as Error).message }),
      );
    }
  };
  // A re-forked child asks for the same address, port 0 included: the primary hands it the
  // socket the others share (a new port only if every child had died).
  const pool = new ChildPool({
    processes: o.processes,
    indexEnv: 'FEATURESTREAM_SERVE_PROCESS',
    label: 'feature server process',
    logger,
    stopGraceMs: o.stopGraceMs,
    onMessage,
    execArgv: serverNodeFlags(),
  });
  pool.start();
  await pool.untilSignal();
  logger.info('feature server draining');
  const exitCode = await pool.stop();
  logger.info({ exitCode }, 'feature server processes stopped');
  return exitCode;
}
