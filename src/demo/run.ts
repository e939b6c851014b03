/**
 * The main job a newcomer runs: topics created, a synthetic workload streamed by a producer
 * process through the in-process worker with a live progress line, then vectors served, batch
 * latency shown next to a sequential loop, and the DynamoDB copy made last. Ends by itself
 * unless `follow`.
 */
import { loadEnvConfig, type EnvConfig } from '../config.ts';
import { createKafka } from '../consumers/kafka-client.ts';
import { createWorker, WORKER_DEFAULTS } from '../consumers/worker.ts';
import { createLogger } from '../logger.ts';
import { workerMetrics } from '../metrics.ts';
import { loadRegistryFile, type Registry } from '../schemas/registry.ts';
import { createFeatureReader } from '../serving/reader.ts';
import type { FeatureVector } from '../serving/types.ts';
import { Keys } from '../stores/keys.ts';
import { createRedis } from '../stores/redis.ts';
import { serveOnce } from './http.ts';
import { ensureTopics, topicEnds, untilCommitted } from './produce.ts';
import { forkProducer } from './producer-fork.ts';
import type { ProducerJob } from './producer-process.ts';
import { startDemoSync, type DemoSync } from './sync.ts';
import { percentile, table, timeIt, vectorRows } from './report.ts';
import { userId } from './workload.ts';

export interface DemoOptions {
  events: number;
  users: number;
  partitions: number;
  follow: boolean;
  config?: string;
}

/** What a test swaps in so the demo runs beside others on shared services; the CLI passes none. */
export interface DemoContext {
  env?: NodeJS.ProcessEnv;
  registry?: Registry;
  groupId?: string;
  metricsPort?: number | false;
  out?: (line: string) => void;
}

export interface DemoResult {
  /** From the first event sent to the last vector written and its offset committed. */
  materializedMs: number;
  /** Sending the events (the producer's last acknowledgement). */
  producedMs: number;
  /** From the last event's acknowledgement to the last vector written and committed. */
  afterProductionMs: number;
  /** Events produced that no batch had taken up yet when production ended: the worker's backlog then. */
  backlogAtEnd: number;
  /** From the sync's start (the demo's last step) to an empty DynamoDB sync queue; absent with --follow. */
  syncMs?: number;
  deadLettered: number;
  busiest: FeatureVector[];
  /** Absent with --follow. */
  latency?: { batchP50Ms: number; sequentialP50Ms: number };
  /** The one POST /features the demo sent its HTTP feature server. */
  served: { status: number; body: unknown; curl: string };
}

const SHOWN = ['tx_count_1h', 'tx_sum_24h', 'avg_tx_90d', 'distinct_merchants_7d', 'credit_score_bucket', 'is_premium', 'account_age_days', 'recent_merchants'];

async function counterTotal(counter: { get(): Promise<{ values: Array<{ value: number }> }> }): Promise<number> {
  return (await counter.get()).values.reduce((sum, v) => sum + v.value, 0);
}

export async function runDemo(o: DemoOptions, ctx: DemoContext = {}): Promise<DemoResult> {
  const rawEnv = ctx.env ?? process.env;
  const env = loadEnvConfig(rawEnv);
  const logger = createLogger({ level: rawEnv.LOG_LEVEL ?? 'warn' });
  const registry = ctx.registry ?? (await loadRegistryFile(o.config));
  const groupId = ctx.groupId ?? WORKER_DEFAULTS.groupId;
  const topics = [...new Set(registry.sources.map((s) => s.topic))];
  // The workload names its sources; a registry may route a source to another topic.
  const topicOf = new Map(registry.sources.map((s) => [s.name, s.topic]));
  const out = ctx.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const tty = ctx.out === undefined && process.stdout.isTTY === true;

  const kafka = createKafka({ env, clientId: 'featurestream-demo', logger });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, topics, o.partitions);
  out(`topics ready: ${topics.join(', ')} (${o.partitions} partitions each, dead letters in <topic>.dlq)`);

  const metricsPort = ctx.metricsPort ?? env.METRICS_PORT;
  // Dual-write stays on; the sync workers start once the events are materialized (sync.ts).
  const worker = createWorker({ registry, env, logger, groupId, metricsPort, runSyncWorkers: false });
  await worker.start().catch(async (err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    await worker.stop();
    throw new Error(`METRICS_PORT ${String(metricsPort)} is in use; set METRICS_PORT to a free port`);
  });

  const step = 40;
  const job: ProducerJob = {
    events: o.events,
    users: o.users,
    seed: Date.now() % 1_000_000,
    startMs: Date.now() - o.events * step,
    stepMs: step,
    topics: { transactions: topicOf.get('transactions') ?? 'transactions', logins: topicOf.get('logins') ?? 'logins', profiles: topicOf.get('profiles') ?? 'profiles' },
    follow: o.follow,
  };

  if (await earlierRunLeftState(env)) {
    out('note: Redis still holds the vectors of an earlier demo run; the windows below add this run\'s events to them');
  }
  out(`streaming ${o.events.toLocaleString()} synthetic events (Zipf users, late, duplicated and malformed ones included) ...`);
  let produced = 0;
  const producing = forkProducer(job, rawEnv, (n) => (produced = n));
  const t0 = await producing.started;
  // The counters are process-wide; a second run in one process (tests) counts from its own start.
  const consumedBefore = await counterTotal(workerMetrics.eventsConsumed);
  const deadBefore = await counterTotal(workerMetrics.eventsDeadLettered);
  let dead = 0;
  const progress = async () => {
    const consumed = (await counterTotal(workerMetrics.eventsConsumed)) - consumedBefore;
    dead = (await counterTotal(workerMetrics.eventsDeadLettered)) - deadBefore;
    const secs = (Date.now() - t0) / 1000;
    // Events an earlier run left unconsumed are consumed here too, so consumed can pass produced.
    const lag = Math.max(0, produced - consumed);
    const line = `produced ${produced.toLocaleString()}  consumed ${consumed.toLocaleString()}  ${Math.round(consumed / secs).toLocaleString()} events/s  lag ${lag.toLocaleString()}  dead-lettered ${dead}`;
    if (tty) process.stdout.write(`\r${line.padEnd(100)}`);
    else out(line);
  };
  const ticker = setInterval(() => void progress(), tty ? 250 : 2_000);
  const { at: producedAt, sent } = await producing.done;
  // What the time after production is spent on: this backlog, plus the batches already under way.
  const backlogAtEnd = Math.max(0, sent - ((await counterTotal(workerMetrics.eventsConsumed)) - consumedBefore));
  // Production has ended, so the ends are final; polled often, the figure is at most ~25 ms late.
  await untilCommitted(admin, groupId, await topicEnds(admin, topics), 20);
  const doneAt = Date.now();
  const materializedMs = doneAt - t0;
  clearInterval(ticker);
  await progress();
  if (tty) out('');
  out(
    `all events materialized in ${(materializedMs / 1000).toFixed(1)} s: produced in ${((producedAt - t0) / 1000).toFixed(1)} s, ` +
      `the last vector written and committed ${((doneAt - producedAt) / 1000).toFixed(2)} s after the last event was produced ` +
      `(${backlogAtEnd.toLocaleString()} events had not reached the worker by then)`,
  );
  const startSync = () => startDemoSync({ env, registry, keys: worker.keys, logger });
  // With --follow the copy runs beside the stream; else it is the last step, after the reads are timed.
  const followSync: DemoSync | undefined = o.follow ? await startSync() : undefined;

  const metricsUrl = `http://127.0.0.1:${worker.metricsPort() ?? env.METRICS_PORT}/metrics`;
  // A model server reads from its own process; sharing this one's event loop with the worker would
  // time the worker, not the reader. The demo runs beside Kafka, Redis and the worker on one
  // (often busy) machine, so its reads get 250 ms rather than the library's 50 ms default.
  if (!o.follow) await worker.stop();
  const reader = createFeatureReader({ registry, env: rawEnv, logger, deadlineMs: 250 });
  await reader.ready(5_000);
  const hot = Array.from({ length: 5 }, (_, i) => userId(i));
  const busiest = await reader.getMany('user', hot);
  out('\nfeature vectors of the five busiest users (one pipelined round trip):');
  out(table(vectorRows(busiest, SHOWN)));
  out(table(vectorRows(await reader.getMany('user', ['nobody-here']), SHOWN.slice(0, 4))));
  out('(an unknown user gets the training-time defaults, source "default")');
  const http = await serveOnce(reader, logger, { entity: 'user', ids: hot.slice(0, 2), features: ['tx_count_1h', 'tx_sum_24h'] }, out);
  if (!o.follow) {
    await http.server.close();
    out('(the demo shuts the server down now; `npm run demo -- --follow` keeps it up for that line)');
  }

  // With --follow the worker keeps running in this process and would be timed along with the reads.
  const latency = o.follow ? undefined : await latencyReport(registry, rawEnv, env, out);
  if (o.follow) out('\n(lookup latency is compared without --follow: here the worker shares this process)');
  out(
    o.follow
      ? `\nmetrics: curl ${metricsUrl}   (health: /healthz, /readyz)`
      : '\nmetrics: run `npm run demo -- --follow` and curl the /metrics address it prints (health: /healthz, /readyz)',
  );

  if (o.follow) {
    out('--follow: streaming ~200 events/s until Ctrl-C');
    const stop = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await stop;
  }
  await producing.stop();
  // Closing the server closes the reader too.
  if (o.follow) await http.server.close();
  await admin.disconnect();
  if (o.follow) await worker.stop();
  let syncMs: number | undefined;
  if (followSync) await followSync.close();
  else {
    out('\ncopying the written entities to DynamoDB (its sync workers start only now, so they took no CPU from the steps timed above) ...');
    const sync = await startSync();
    syncMs = await sync.drained();
    await sync.close();
    out(`DynamoDB copy of the written entities done in ${(syncMs / 1000).toFixed(1)} s`);
  }
  return {
    materializedMs,
    producedMs: producedAt - t0,
    afterProductionMs: doneAt - producedAt,
    backlogAtEnd,
    ...(syncMs === undefined ? {} : { syncMs }),
    deadLettered: dead,
    busiest,
    ...(latency ? { latency } : {}),
    served: { status: http.status, body: http.body, curl: http.curl },
  };
}

/** The busiest user's vector key, as the worker names it (hash tags on a Cluster). */
function vectorKey(env: EnvConfig, entityId: string): string {
  const keyspace = new Keys({ prefix: env.FEATURESTREAM_KEY_PREFIX, hashTags: env.REDIS_CLUSTER_NODES !== undefined });
  return keyspace.vector({ entityType: 'user', entityId }, 'features');
}

/** True when an earlier run left vectors behind: this run's windows then add to them. */
async function earlierRunLeftState(env: EnvConfig): Promise<boolean> {
  const redis = createRedis(env);
  try {
    return (await redis.exists(vectorKey(env, userId(0)))) === 1;
  } finally {
    redis.disconnect();
  }
}

async function latencyReport(
  registry: Registry,
  rawEnv: NodeJS.ProcessEnv,
  env: EnvConfig,
  out: (l: string) => void,
): Promise<{ batchP50Ms: number; sequentialP50Ms: number }> {
  const reader = createFeatureReader({ registry, env: rawEnv, cache: false, deadlineMs: 1_000 });
  const redis = createRedis(env);
  const ids = Array.from({ length: 100 }, (_, i) => userId(i));
  const keys = ids.map((entityId) => vectorKey(env, entityId));
  await reader.ready(5_000);
  await reader.getMany('user', ids);
  const batch = await timeIt(200, () => reader.getMany('user', ids));
  const sequential = await timeIt(30, async () => {
    // One round trip per user, reading the same packed vectors (the demo registry's layout).
    for (const key of keys) await redis.getBuffer(key);
  });
  out('\nlookup latency for 100 users (cache off):');
  out(
    table([
      { method: 'reader.getMany (one round trip)', p50_ms: percentile(batch, 50).toFixed(2), p99_ms: percentile(batch, 99).toFixed(2) },
      { method: 'sequential GET loop', p50_ms: percentile(sequential, 50).toFixed(2), p99_ms: percentile(sequential, 99).toFixed(2) },
    ]),
  );
  out(`speed-up at p50: ${(percentile(sequential, 50) / percentile(batch, 50)).toFixed(1)}x`);
  await reader.close();
  redis.disconnect();
  return { batchP50Ms: percentile(batch, 50), sequentialP50Ms: percentile(sequential, 50) };
}
