/**
 * `featurestream worker --processes N`: one primary process supervising N
 * worker processes (node:cluster). Each child is an ordinary member of the same
 * consumer group, so Kafka spreads the partitions over the machine's cores; a
 * partition still has one owner, so every guarantee of a single worker holds.
 *
 * The primary does no Kafka or Redis work. It serves /metrics (the children's
 * registries summed by prom-client's AggregatorRegistry), /healthz and /readyz;
 * it re-forks a child that dies, with backoff; and on SIGTERM or SIGINT it
 * forwards SIGTERM so that each child finishes its batch, commits and leaves.
 */
import { startHttpServer, type RunningHttpServer } from '../http-server.ts';
import type { Logger } from '../logger.ts';
import { AggregatorRegistry } from 'prom-client';
import { ChildPool, messageType } from './supervisor.ts';

/** The IPC message a child sends once its worker has joined and started. */
const READY = 'featurestream:worker-ready';
/** How long a stopping child may take to finish its batch and leave before it is killed. */
const STOP_GRACE_MS = 60_000;

export function childReady(): void {
  process.send?.({ type: READY });
}

export interface SupervisorOptions {
  processes: number;
  metricsPort: number;
  logger: Logger;
}

/** Runs the primary until SIGTERM/SIGINT; resolves with the exit code once every child has stopped. */
export async function superviseWorkers(o: SupervisorOptions): Promise<number> {
  const logger = o.logger.child({ component: 'supervisor' });
  const aggregator = new AggregatorRegistry();
  const pool = new ChildPool({
    processes: o.processes,
    indexEnv: 'FEATURESTREAM_WORKER_PROCESS',
    label: 'worker process',
    logger,
    stopGraceMs: STOP_GRACE_MS,
    onMessage: (slot, _child, m) => {
      if (messageType(m) === READY) slot.ready = true;
    },
  });
  const children = () => pool.slots.map((s) => ({ process: s.index, pid: s.child?.process.pid, ready: s.ready, restarts: s.restarts }));
  const http: RunningHttpServer = await startHttpServer({
    port: o.metricsPort,
    registry: {
      contentType: aggregator.contentType,
      metrics: () => aggregator.clusterMetrics(),
    },
    health: () => ({ ok: !pool.stopping, detail: { children: children() } }),
    ready: () => ({ ok: !pool.stopping && pool.slots.every((s) => s.ready), detail: { children: children() } }),
  });
  pool.start();
  logger.info({ processes: o.processes, metricsPort: http.port }, 'worker processes started');
  const signal = await pool.untilSignal();
  logger.info({ signal }, 'stopping worker processes');
  const exitCode = await pool.stop();
  await http.close();
  logger.info({ exitCode }, 'worker processes stopped');
  return exitCode;
}
