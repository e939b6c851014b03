/** The worker bench's freshness pieces: histogram quantiles and a paced producer in a process of its own. */
import { spawn } from 'node:child_process';

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
 */
const PACED_PRODUCER = `
import { createKafka, Partitioners } from './src/consumers/kafka-client.ts';
const [topic, rate, seconds, users] = process.argv.slice(1);
const kafka = createKafka({ brokers: process.env.KAFKA_BROKERS.split(','), clientId: 'fs-bench-paced' });
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
await producer.connect();
const tickMs = 20, perTick = (Number(rate) * tickMs) / 1000, start = performance.now();
let i = 0;
for (let tick = 0; tick < (Number(seconds) * 1000) / tickMs; tick++) {
  const wait = start + tick * tickMs - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const ts = Date.now();
  const messages = Array.from({ length: perTick }, () => {
    const user = 'u' + ((i * 7919) % Number(users));
    const body = { event_id: 'p' + i, user_id: user, amount: (i % 1000) / 10, merchant_id: 'm' + (i % 200), ts };
    i += 1;
    return { key: user, value: JSON.stringify(body) };
  });
  await producer.send({ topic, acks: 1, messages });
}
await producer.disconnect();
`;

export function pacedProducer(o: { topic: string; seconds: number; rate: number; users: number; brokers: readonly string[] }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', PACED_PRODUCER, o.topic, String(o.rate), String(o.seconds), String(o.users)],
      { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, KAFKA_BROKERS: o.brokers.join(',') } },
    );
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`paced producer exited with ${code}`))));
  });
}

