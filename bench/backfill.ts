/**
 * Backfill replay throughput against the real services (KAFKA_BROKERS,
 * REDIS_URL from the environment), with its baseline in the same run:
 *   events_per_sec: messages replayed per second by one in-process backfill
 *     (bounded --to replay into a new version, 4 partitions, default registry),
 *     from its first replayed batch to the last commit
 *   raw_consume_events_per_sec: bare kafkajs eachBatch over the same topic
 *   skipped_before_decode: the share of messages (400 days old) dropped by
 *     Kafka timestamp without decoding
 *   rate_limited_events_per_sec: the same replay with rate = RATE_LIMIT
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { deleteMatching } from '../src/stores/redis.ts';
import { loadEnvConfig } from '../src/config.ts';
import { createBackfill } from '../src/consumers/backfill/backfill.ts';
import { backfillMetrics } from '../src/consumers/backfill/metrics.ts';
import { createKafka, type Kafka, type Message } from '../src/consumers/kafka-client.ts';
import { createLogger } from '../src/logger.ts';
import { defaultRegistryConfig } from '../src/schemas/default-registry.ts';
import { parseRegistry } from '../src/schemas/registry.ts';

const EVENTS = Number(process.env.BENCH_BACKFILL_EVENTS ?? 100_000);
const OLD_SHARE = 0.2;
const RATE_LIMIT = 5_000;
const RATE_EVENTS = 30_000;
const WARMUP_EVENTS = 10_000;
const USERS = 20_000;
const DAY = 86_400_000;

const env = loadEnvConfig();
const id = () => randomBytes(4).toString('hex');

function tx(i: number, now: number): Message {
  const user = `u${(i * 7919) % USERS}`;
  // Every fifth message is 400 days old (Kafka timestamp too): past the longest transactions feature (avg_tx_90d, TTL 180 d).
  const old = i % Math.round(1 / OLD_SHARE) === 0;
  const ts = old ? now - 400 * DAY : now - (i % 3_000_000);
  return {
    key: user,
    value: JSON.stringify({ event_id: `e${i}`, user_id: user, amount: (i % 1000) / 10, merchant_id: `m${i % 200}`, ts }),
    ...(old ? { timestamp: String(ts) } : {}),
  };
}

async function setup(kafka: Kafka, count: number) {
  const prefix = `fs-bench-bf-${id()}`;
  const input = { ...defaultRegistryConfig, sources: defaultRegistryConfig.sources.map((s) => ({ ...s, topic: `${prefix}-${s.name}` })) };
  const registry = parseRegistry(input);
  const admin = kafka.admin();
  await admin.connect();
  const topics = registry.sources.map((s) => s.topic);
  await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 4 })), waitForLeaders: true });
  const txTopic = `${prefix}-transactions`;
  const producer = kafka.producer();
  await producer.connect();
  const now = Date.now();
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < count; i += 5_000) {
    const messages = Array.from({ length: Math.min(5_000, count - i) }, (_, j) => tx(i + j, now));
    inFlight.push(producer.send({ topic: txTopic, messages, acks: 1 }));
    if (inFlight.length >= 4) await inFlight.shift();
  }
  await Promise.all(inFlight);
  await producer.disconnect();
  return {
    prefix,
    registry,
    txTopic,
    cleanup: async () => {
      await cleanupKeys(`${prefix}:`);
      await admin.deleteTopics({ topics }).catch(() => undefined);
      await admin.disconnect();
    },
  };
}

async function replayedTotal(topic: string): Promise<number> {
  const m = await backfillMetrics.eventsReplayed.get();
  return m.values.filter((v) => v.labels.topic === topic).reduce((a, v) => a + v.value, 0);
}

async function skippedTotal(): Promise<number> {
  const m = await backfillMetrics.eventsSkipped.get();
  return m.values.filter((v) => v.labels.reason === 'before_decode').reduce((a, v) => a + v.value, 0);
}

/** One bounded backfill over `count` messages; rate measured from the first replayed batch to completion. */
async function backfillRun(kafka: Kafka, count: number, rate?: number) {
  const s = await setup(kafka, count);
  const base = await replayedTotal(s.txTopic);
  const skippedBase = await skippedTotal();
  const backfill = createBackfill({
    registry: s.registry,
    env: { ...env, FEATURESTREAM_KEY_PREFIX: `${s.prefix}:` },
    since: 'earliest',
    until: Date.now() + 1_000,
    groupId: `${s.prefix}-backfill`,
    pollMs: 50,
    logger: createLogger({ level: 'warn' }),
    ...(rate === undefined ? {} : { rate }),
  });
  // From the first committed batch to the moment every message is accounted for (replayed or skipped);
  // the group join before and the consumer shutdown after are not replay work.
  let t0 = 0;
  let t1 = 0;
  const watcher = (async () => {
    while (t1 === 0) {
      const seen = (await replayedTotal(s.txTopic)) - base + (await skippedTotal()) - skippedBase;
      if (seen > 0 && t0 === 0) t0 = performance.now();
      if (seen >= count) t1 = performance.now();
      else await sleep(2);
    }
  })();
  const summary = await backfill.run();
  await watcher;
  if (!summary.completed) throw new Error('backfill did not complete');
  const skipped = (await skippedTotal()) - skippedBase;
  await s.cleanup();
  return { eps: count / ((t1 - t0) / 1000), skipped, txTopic: s.txTopic };
}

async function rawRun(kafka: Kafka, count: number): Promise<number> {
  const s = await setup(kafka, count);
  const consumer = kafka.consumer({ groupId: `fs-bench-raw-${id()}` });
  await consumer.connect();
  await consumer.subscribe({ topics: [s.txTopic], fromBeginning: true });
  let n = 0;
  let t0 = 0;
  let t1 = 0;
  await consumer.run({
    eachBatch: async ({ batch }) => {
      if (t0 === 0) t0 = performance.now();
      for (const m of batch.messages) if (m.value) n += 1;
      if (n >= count && t1 === 0) t1 = performance.now();
    },
  });
  while (t1 === 0) await sleep(5);
  await consumer.disconnect();
  await s.cleanup();
  return count / ((t1 - t0) / 1000);
}

async function cleanupKeys(prefix: string): Promise<void> {
  const redis = new Redis(env.REDIS_URL);
  await deleteMatching(redis, `${prefix}*`);
  redis.disconnect();
}

export default async function run(): Promise<{ metrics: Record<string, number | string>; table: Array<Record<string, string | number>> }> {
  const kafka = createKafka({ brokers: env.KAFKA_BROKERS, clientId: `fs-bench-${id()}` });
  // Warm-up (not reported): the first batches pay for JIT compilation of the decoder and engine.
  await backfillRun(kafka, WARMUP_EVENTS);
  const full = await backfillRun(kafka, EVENTS);
  const raw = await rawRun(kafka, EVENTS);
  const limited = await backfillRun(kafka, RATE_EVENTS, RATE_LIMIT);
  const metrics = {
    events: EVENTS,
    events_per_sec: Math.round(full.eps),
    raw_consume_events_per_sec: Math.round(raw),
    ratio: Number((full.eps / raw).toFixed(3)),
    skipped_before_decode: Number((full.skipped / EVENTS).toFixed(3)),
    rate_limit: RATE_LIMIT,
    rate_limited_events_per_sec: Math.round(limited.eps * (1 - limited.skipped / RATE_EVENTS)),
  };
  return {
    metrics,
    table: [
      { case: 'backfill replay, 4 partitions (20% skipped as too old)', events_per_sec: metrics.events_per_sec },
      { case: 'raw kafkajs eachBatch, 4 partitions', events_per_sec: metrics.raw_consume_events_per_sec },
      { case: 'ratio backfill/raw', events_per_sec: metrics.ratio },
      { case: `backfill with rate ${RATE_LIMIT}/s (replayed, not skipped)`, events_per_sec: metrics.rate_limited_events_per_sec },
    ],
  };
}
