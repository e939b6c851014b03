/** The worker bench's freshness pieces: histogram quantiles, a paced producer in a process of its own, the catch-up wait. */
import { spawn } from 'node:child_process';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin } from '../src/consumers/kafka-client.ts';

export interface Freshness {
  p50: number;
  p99: number;
  /** Events/s the paced producer reached in the window. */
  achievedRate: number;
  /** From the window's last event sent to its last offset committed: the worker kept up when small. */
  drainMs: number;
  /** From the warm-up's last event sent to its last commit (the window waited for it). */
  warmupDrainMs: number;
  stalls: Stalls;
}

/** How long this process (the worker's) could not run during the window: a freshness tail there is its own. */
export interface Stalls {
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  gcMaxPauseMs: number;
  gcTotalMs: number;
}

/** Starts watching the event loop and GC pauses; the returned function stops and reports. */
export function watchStalls(): () => Stalls {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let gcMaxPauseMs = 0;
  let gcTotalMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMaxPauseMs = Math.max(gcMaxPauseMs, e.duration);
      gcTotalMs += e.duration;
    }
  });
  gc.observe({ entryTypes: ['gc'] });
  return () => {
    loop.disable();
    gc.disconnect();
    return { loopDelayP99Ms: loop.percentile(99) / 1e6, loopDelayMaxMs: loop.max / 1e6, gcMaxPauseMs, gcTotalMs };
  };
}

/** A worker that cannot keep up still gets a figure: the wait for its backlog ends here. */
const CATCH_UP_TIMEOUT_MS = 60_000;

/** Waits until `committed()` (the group's offsets, summed) reaches the topic's end; returns the ms it took. */
export async function caughtUp(admin: Admin, topic: string, committed: () => Promise<number>): Promise<number> {
  const started = performance.now();
  const end = (await admin.fetchTopicOffsets(topic)).reduce((a, p) => a + Number(p.high), 0);
  while ((await committed()) < end && performance.now() - started < CATCH_UP_TIMEOUT_MS) await sleep(10);
  return performance.now() - started;
}

export function quantile(buckets: Array<{ le: number; count: number }>, q: number): number {
  const total = buckets.at(-1)!.count;
  const target = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= target) {
      if (!Number.isFinite(b.le)) return prevLe;
      return prevLe + ((target - prevCount) / Math.max(1, b.count - prevCount)) * (b.le - prevLe);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/**
 * Producer for the freshness run, in its own process so its timers and the
 * worker's CPU work do not delay each other (the event time is taken at send).
 * Each send carries every event due by then: a send slower than a tick (a busy
 * broker or machine) makes the next one bigger instead of lowering the rate.
 */
const PACED_PRODUCER = `
import { createKafka, Partitioners } from './src/consumers/kafka-client.ts';
const [topic, rate, seconds, users] = process.argv.slice(1);
const kafka = createKafka({ brokers: process.env.KAFKA_BROKERS.split(','), clientId: 'fs-bench-paced' });
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
await producer.connect();
const tickMs = 20, total = Number(rate) * Number(seconds), start = performance.now();
let i = 0;
while (i < total) {
  const tick = Math.floor((performance.now() - start) / tickMs) + 1;
  const due = Math.min(total, Math.round((tick * tickMs * Number(rate)) / 1000));
  if (due <= i) {
    await new Promise((r) => setTimeout(r, start + tick * tickMs - performance.now()));
    continue;
  }
  const ts = Date.now();
  const messages = Array.from({ length: due - i }, () => {
    const user = 'u' + ((i * 7919) % Number(users));
    const body = { event_id: 'p' + i, user_id: user, amount: (i % 1000) / 10, merchant_id: 'm' + (i % 200), ts };
    i += 1;
    return { key: user, value: JSON.stringify(body) };
  });
  await producer.send({ topic, acks: 1, messages });
}
process.stdout.write(JSON.stringify({ sent: i, ms: performance.now() - start }));
await producer.disconnect();
`;

/** Resolves with the rate the producer achieved (a busy machine can hold it below the one asked for). */
export function pacedProducer(o: { topic: string; seconds: number; rate: number; users: number; brokers: readonly string[] }): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', PACED_PRODUCER, o.topic, String(o.rate), String(o.seconds), String(o.users)],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, KAFKA_BROKERS: o.brokers.join(',') } },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`paced producer exited with ${code}`));
      const { sent, ms } = JSON.parse(out) as { sent: number; ms: number };
      resolve(sent / (ms / 1000));
    });
  });
}

