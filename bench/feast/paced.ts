/**
 * Open-loop load at a fixed request rate (wrk2-style), for latency at a given
 * load. autocannon's `overallRate` is a per-second budget each connection
 * spends back to back, so its requests arrive in bursts at the start of every
 * second; here request i is sent at t0 + i / rate whatever the server is
 * doing, on a keep-alive pool of `connections` sockets. A request that waits
 * for a free socket has that wait in its latency (no coordinated omission);
 * a server that falls behind builds a backlog, capped at `maxBacklog`
 * requests, past which requests are counted as `dropped` and not sent.
 */
import { Http1Connection, requestBytes } from './http1.ts';

export interface PacedOptions {
  url: string;
  body: Buffer;
  headers: Record<string, string>;
  rate: number;
  durationMs: number;
  connections: number;
  maxBacklog: number;
  /** Per request; a slower answer counts as an error. */
  timeoutMs: number;
}

export interface PacedResult {
  rate: number;
  sent: number;
  ok: number;
  errors: number;
  /** Errors by kind: `http <status>`, `timeout`, or the socket error's code. */
  error_kinds: string;
  dropped: number;
  achieved_rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (n: number) => Number(n.toFixed(2));

export async function pacedLoad(o: PacedOptions): Promise<PacedResult> {
  const { hostname, port, pathname } = new URL(o.url);
  const wire = requestBytes({ host: hostname, port: Number(port), path: pathname, headers: o.headers, body: o.body });
  const latencies: number[] = [];
  let sent = 0;
  let errors = 0;
  const kinds = new Map<string, number>();
  const failed = (kind: string) => kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  let dropped = 0;
  let due = 0;
  /** Start times of requests waiting for a free socket, oldest first. */
  const queue: number[] = [];
  let queued = 0;
  const pool: Http1Connection[] = [];
  const started = new Map<Http1Connection, number>();
  let settled = 0;
  let allSent = false;
  let allDone: (() => void) | undefined;

  const settle = (conn: Http1Connection, error?: string) => {
    const t = started.get(conn)!;
    started.delete(conn);
    settled++;
    if (error === undefined) latencies.push(performance.now() - t);
    else {
      errors++;
      failed(error);
    }
    next(conn);
    if (allSent && settled === sent) allDone?.();
  };
  const open = (): Http1Connection => {
    const conn: Http1Connection = new Http1Connection(hostname, Number(port), (code) => settle(conn, code));
    return conn;
  };
  const dispatch = (conn: Http1Connection, t: number) => {
    started.set(conn, t);
    conn.send(wire, (status) => settle(conn, status === 200 ? undefined : `http ${status}`));
  };
  /** A free socket takes the oldest waiting request. */
  const next = (conn: Http1Connection) => {
    if (queued === queue.length) return;
    let use = conn;
    if (!use.usable) {
      const i = pool.indexOf(use);
      use = pool[i] = open();
    }
    dispatch(use, queue[queued++]!);
    if (queued > 1_024) {
      queue.splice(0, queued);
      queued = 0;
    }
  };
  const fire = (t: number) => {
    let conn = pool.find((c) => !c.busy && c.usable);
    if (conn === undefined && pool.length < o.connections) pool.push((conn = open()));
    if (conn === undefined) {
      const dead = pool.findIndex((c) => !c.usable && !c.busy);
      if (dead >= 0) conn = pool[dead] = open();
    }
    if (conn === undefined) queue.push(t);
    else dispatch(conn, t);
  };
  // In flight longer than the timeout: the socket is given up (as node:http's request timeout did).
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const [conn, t] of started) if (now - t > o.timeoutMs) conn.destroy('timeout');
  }, 100);

  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - t0;
      const target = Math.min(Math.floor((elapsed * o.rate) / 1_000), Math.floor((o.durationMs * o.rate) / 1_000));
      for (; due < target; due++) {
        if (sent - settled >= o.maxBacklog) {
          dropped++;
          continue;
        }
        sent++;
        fire(performance.now());
      }
      if (elapsed < o.durationMs) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  allSent = true;
  if (settled < sent) await new Promise<void>((resolve) => (allDone = resolve));
  clearInterval(sweep);
  const wallMs = performance.now() - t0;
  for (const conn of pool) conn.destroy();
  latencies.sort((a, b) => a - b);
  return {
    rate: o.rate,
    sent,
    ok: latencies.length,
    errors,
    error_kinds: [...kinds].map(([kind, n]) => `${kind}: ${n}`).join(', ') || 'none',
    dropped,
    achieved_rps: round((latencies.length * 1_000) / Math.max(o.durationMs, wallMs)),
    p50_ms: round(percentile(latencies, 50)),
    p90_ms: round(percentile(latencies, 90)),
    p99_ms: round(percentile(latencies, 99)),
    max_ms: round(latencies.at(-1) ?? Number.NaN),
  };
}
