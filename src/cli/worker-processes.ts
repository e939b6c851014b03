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
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { startHttpServer, type RunningHttpServer } from '../http-server.ts';
import type { Logger } from '../logger.ts';
import { registry as metricsRegistry, collectProcessMetrics } from '../metrics.ts';

/** The IPC message a child sends once its worker has joined and started. */
const READY = 'featurestream:worker-ready';
const RESTART_MIN_MS = 1_000;
const RESTART_MAX_MS = 30_000;
/** A child that lived this long before dying restarts after the shortest delay again. */
const STABLE_MS = 60_000;
/** How long a stopping child may take to finish its batch and leave before it is killed. */
const STOP_GRACE_MS = 60_000;

interface Slot {
  index: number;
  child?: ClusterWorker;
  ready: boolean;
  restarts: number;
  startedAt: number;
  /** Consecutive short-lived runs, for the restart backoff. */
  failures: number;
  restartTimer?: NodeJS.Timeout;
}

export const isWorkerChild = (): boolean => cluster.isWorker;

/** In a child: expose this process's metrics to the primary and tell it when the worker is up. */
export function childMetrics(): void {
  collectProcessMetrics();
  AggregatorRegistry.setRegistries([metricsRegistry]);
  // prom-client answers the primary's metric requests only once an AggregatorRegistry exists in the process.
  new AggregatorRegistry();
}

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
  const slots: Slot[] = Array.from({ length: o.processes }, (_, index) => ({ index, ready: false, restarts: 0, startedAt: 0, failures: 0 }));
  let stopping = false;
  let exitCode = 0;

  const fork = (slot: Slot) => {
    slot.restartTimer = undefined;
    slot.ready = false;
    slot.startedAt = Date.now();
    const child = cluster.fork({ FEATURESTREAM_WORKER_PROCESS: String(slot.index) });
    slot.child = child;
    child.on('message', (m: unknown) => {
      if (typeof m === 'object' && m !== null && (m as { type?: unknown }).type === READY) slot.ready = true;
    });
    child.on('exit', (code, signal) => {
      slot.child = undefined;
      slot.ready = false;
      if (stopping) {
        if (code !== 0) exitCode = 1;
        return;
      }
      slot.failures = Date.now() - slot.startedAt >= STABLE_MS ? 0 : slot.failures + 1;
      const delayMs = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** Math.max(0, slot.failures - 1));
      logger.error({ process: slot.index, pid: child.process.pid, code, signal, restartInMs: delayMs }, 'worker process died; restarting it');
      slot.restarts++;
      slot.restartTimer = setTimeout(() => fork(slot), delayMs);
    });
  };

  const children = () => slots.map((s) => ({ process: s.index, pid: s.child?.process.pid, ready: s.ready, restarts: s.restarts }));
  const http: RunningHttpServer = await startHttpServer({
    port: o.metricsPort,
    registry: {
      contentType: aggregator.contentType,
      metrics: () => aggregator.clusterMetrics(),
    },
    health: () => ({ ok: !stopping, detail: { children: children() } }),
    ready: () => ({ ok: !stopping && slots.every((s) => s.ready), detail: { children: children() } }),
  });
  for (const slot of slots) fork(slot);
  logger.info({ processes: o.processes, metricsPort: http.port }, 'worker processes started');

  await new Promise<void>((resolve) => {
    const shutdown = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping worker processes');
      resolve();
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });
  await Promise.all(slots.map((slot) => stopSlot(slot)));
  await http.close();
  logger.info({ exitCode }, 'worker processes stopped');
  return exitCode;
}

async function stopSlot(slot: Slot): Promise<void> {
  clearTimeout(slot.restartTimer);
  const child = slot.child;
  if (!child || child.isDead()) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.process.kill('SIGTERM');
  const killer = setTimeout(() => child.process.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(killer);
}
