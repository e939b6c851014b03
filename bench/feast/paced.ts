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
import { Agent, request } from 'node:http';

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
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections });
  const headers = { ...o.headers, 'content-length': String(o.body.length) };
  const latencies: number[] = [];
  let sent = 0;
  let errors = 0;
  let dropped = 0;
  let pending = 0;
  let due = 0;
  const { hostname, port, pathname } = new URL(o.url);

  const fire = (): Promise<void> =>
    new Promise((resolve) => {
      const started = performance.now();
      pending++;
      const done = (ok: boolean) => {
        pending--;
        if (ok) latencies.push(performance.now() - started);
        else errors++;
        resolve();
      };
      const req = request({ agent, hostname, port, path: pathname, method: 'POST', headers, timeout: o.timeoutMs }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => done(res.statusCode === 200));
        res.on('error', () => done(false));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => done(false));
      req.end(o.body);
    });

  const inFlight = new Set<Promise<void>>();
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - t0;
      const target = Math.min(Math.floor((elapsed * o.rate) / 1_000), Math.floor((o.durationMs * o.rate) / 1_000));
      for (; due < target; due++) {
        if (pending >= o.maxBacklog) {
          dropped++;
          continue;
        }
        sent++;
        const p = fire();
        inFlight.add(p);
        void p.then(() => inFlight.delete(p));
      }
      if (elapsed < o.durationMs) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  await Promise.all(inFlight);
  const wallMs = performance.now() - t0;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    rate: o.rate,
    sent,
    ok: latencies.length,
    errors,
    dropped,
    achieved_rps: round((latencies.length * 1_000) / Math.max(o.durationMs, wallMs)),
    p50_ms: round(percentile(latencies, 50)),
    p90_ms: round(percentile(latencies, 90)),
    p99_ms: round(percentile(latencies, 99)),
    max_ms: round(latencies.at(-1) ?? Number.NaN),
  };
}
