/**
 * The primary side of `--processes N` (node:cluster), shared by `worker` and
 * `serve`: forks N children, re-forks one that dies (1 s backoff doubling to
 * 30 s while it keeps dying young), and on SIGTERM or SIGINT forwards SIGTERM
 * to every child, kills one that outlives its grace, and reports exit code 1
 * if any child stopped with another code than 0.
 */
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from '../logger.ts';
import { registry as metricsRegistry, collectProcessMetrics } from '../metrics.ts';

const RESTART_MIN_MS = 1_000;
const RESTART_MAX_MS = 30_000;
/** A child that lived this long before dying restarts after the shortest delay again. */
const STABLE_MS = 60_000;

export interface Slot {
  index: number;
  child?: ClusterWorker;
  /** Set by the caller's message handler; cleared whenever the child exits or is re-forked. */
  ready: boolean;
  restarts: number;
  startedAt: number;
  /** Consecutive short-lived runs, for the restart backoff. */
  failures: number;
  restartTimer?: NodeJS.Timeout;
}

export interface ChildPoolOptions {
  processes: number;
  /** Environment variable that tells a child its index. */
  indexEnv: string;
  /** What a child is, in log lines ("worker process"). */
  label: string;
  logger: Logger;
  /** How long a stopping child may take before it is killed. */
  stopGraceMs: number;
  onMessage?: (slot: Slot, child: ClusterWorker, message: unknown) => void;
  /** Node flags for the children, after this process's own. */
  execArgv?: readonly string[];
}

export const isChildProcess = (): boolean => cluster.isWorker;

/** In a child: expose this process's metrics to the primary's AggregatorRegistry. */
export function childMetrics(): void {
  collectProcessMetrics();
  AggregatorRegistry.setRegistries([metricsRegistry]);
  // prom-client answers the primary's metric requests only once an AggregatorRegistry exists in the process.
  new AggregatorRegistry();
}

export class ChildPool {
  readonly slots: Slot[];
  private stoppingNow = false;
  private exitCode = 0;

  constructor(private readonly o: ChildPoolOptions) {
    this.slots = Array.from({ length: o.processes }, (_, index) => ({ index, ready: false, restarts: 0, startedAt: 0, failures: 0 }));
  }

  get stopping(): boolean {
    return this.stoppingNow;
  }

  start(): void {
    if (this.o.execArgv?.length) cluster.setupPrimary({ execArgv: [...process.execArgv, ...this.o.execArgv] });
    for (const slot of this.slots) this.fork(slot);
  }

  /** Resolves on the first SIGTERM or SIGINT; from then on dead children are not re-forked. */
  untilSignal(): Promise<NodeJS.Signals> {
    return new Promise((resolve) => {
      const shutdown = (signal: NodeJS.Signals) => {
        if (this.stoppingNow) return;
        this.stoppingNow = true;
        resolve(signal);
      };
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
    });
  }

  /** Stops every child; resolves with the primary's exit code. */
  async stop(): Promise<number> {
    this.stoppingNow = true;
    await Promise.all(this.slots.map((slot) => this.stopSlot(slot)));
    return this.exitCode;
  }

  private fork(slot: Slot): void {
    slot.restartTimer = undefined;
    slot.ready = false;
    slot.startedAt = Date.now();
    const child = cluster.fork({ [this.o.indexEnv]: String(slot.index) });
    slot.child = child;
    if (this.o.onMessage) child.on('message', (m: unknown) => this.o.onMessage!(slot, child, m));
    child.on('exit', (code, signal) => {
      slot.child = undefined;
      slot.ready = false;
      if (this.stoppingNow) {
        if (code !== 0) this.exitCode = 1;
        return;
      }
      slot.failures = Date.now() - slot.startedAt >= STABLE_MS ? 0 : slot.failures + 1;
      const delayMs = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** Math.max(0, slot.failures - 1));
      this.o.logger.error({ process: slot.index, childPid: child.process.pid, code, signal, restartInMs: delayMs }, `${this.o.label} died; restarting it`);
      slot.restarts++;
      slot.restartTimer = setTimeout(() => this.fork(slot), delayMs);
    });
  }

  private async stopSlot(slot: Slot): Promise<void> {
    clearTimeout(slot.restartTimer);
    const child = slot.child;
    if (!child || child.isDead()) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.process.kill('SIGTERM');
    const killer = setTimeout(() => child.process.kill('SIGKILL'), this.o.stopGraceMs);
    await exited;
    clearTimeout(killer);
  }
}

/** Reads the `type` of an IPC message from a child, if it has one. */
export function messageType(m: unknown): unknown {
  return typeof m === 'object' && m !== null ? (m as { type?: unknown }).type : undefined;
}
