/**
 * Worker throughput and freshness against the real services (KAFKA_BROKERS,
 * REDIS_URL from the environment), with its own baseline in the same run:
 *   events_per_sec (1 and 4 partitions): backlog drained by one in-process worker
 *   raw_consume_events_per_sec: bare kafkajs eachBatch over the same 4-partition topic
 *   ratio: worker / raw, 4 partitions
 *   freshness_ms_p50/_p99: write time minus event time at a steady 5,000 events/s,
 *     after a short warm-up at that rate whose events are all written before the window
 *     opens (steady state, not JIT warm-up or the cold start's backlog); the histogram is
 *     read once every event of the window is committed, however late;
 *     freshness_ms_p50_at_10k/_p99_at_10k: the same at the 10,000 events/s,
 *     next, on the same worker and topic; freshness_achieved_rate(_at_10k): the rate the
 *     paced producer reached; freshness_drain_ms(_at_10k): from the window's last event
 *     sent to its last commit (small when the worker kept up); freshness_warmup_drain_ms
 *     (_at_10k): the same for the warm-up, which the window waits for (after a fixed pause,
 *     a slow cold start's backlog would land in the window); freshness_loop_delay_ms_p99_max
 *     and freshness_gc_ms_max_total (_at_10k): this process's event-loop delay (p99 / max)
 *     and GC pauses (longest / sum) over the window, which a freshness tail of its own shows in
 *   events_per_sec_4p_sync_workers: 4 partitions with the defaults, i.e. DynamoDB
 *     sync workers running in the same process
 *   events_per_sec_4p_cli_processes_1/_2: the 4-partition case run by the CLI,
 *     `featurestream worker --processes N` (separate processes), N = 1 and 2, timed
 *     alike from the production of the events (once every process has joined) to the
 *     last commit; processes_ratio = 2 / 1
 *   events_per_sec_4p_cluster (+ _nowait): the 4-partition case on a 3-master Redis
 *     Cluster (REDIS_CLUSTER_NODES), with WAIT for one replica (the default there) and
 *     without; cluster_ratio = cluster / single node (goal >= 0.75)
 *   redis_cmds_per_entity_{1p,4p} (+ _client): Redis commands per entity the worker
 *     wrote (featurestream_worker_entity_writes_total): "all" is the INFO commandstats
 *     delta of the bench's Redis over the drain, which counts commands run inside Lua
 *     scripts too (use a private REDIS_URL: other clients on it inflate the figure);
 *     "client" counts the commands the process sent (ioredis sendCommand), scripts as one
 *   events_per_sec_4p_warm, redis_cmds_per_entity_4p_warm: a second backlog of the same
 *     users drained by the same worker after the 4-partition case (states cached)
 * BENCH_WORKER_CASES=1p,4p,raw,warm,sync,cli,cluster,freshness runs a subset (default: all).
 * BENCH_WORKER_CHECKPOINT_MS=<ms> runs the workers write-behind (checkpoints.ts) at that interval.
 * The other cases keep dual-write on (one sync job enqueued per batch) but run no
 * sync workers: their cost is DynamoDB's, measured by bench/sync.ts, and in-process
 * they share the worker's CPU. The default registry is used (11 features incl.
 * last_k and distinct_count). BENCH_WORKER_DIST=1 runs the compiled worker
 * (`npm run build` first), without tsx's per-function overhead.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import { deleteMatching, isCluster } from '../src/stores/redis.ts';
import { loadEnvConfig, type EnvConfig } from '../src/config.ts';
import { createKafka, type Kafka, type Message } from '../src/consumers/kafka-client.ts';
import { createLogger } from '../src/logger.ts';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { clientSent, perEntity, serverCommandStats } from './_worker-redis-stats.ts';
import { caughtUp, pacedProducer, quantile, watchStalls, type Freshness } from './_worker-freshness.ts';
import type * as WorkerModule from '../src/consumers/worker.ts';
import type * as MetricsModule from '../src/metrics.ts';
import type * as DefaultRegistryModule from '../src/schemas/default-registry.ts';
import type * as RegistryModule from '../src/schemas/registry.ts';

const impl = process.env.BENCH_WORKER_DIST === '1' ? { dir: '../dist', ext: 'js' } : { dir: '../src', ext: 'ts' };
const load = (path: string): Promise<unknown> => import(`${impl.dir}/${path}.${impl.ext}`);
const { createWorker } = (await load('consumers/worker')) as typeof WorkerModule;
const { workerMetrics } = (await load('metrics')) as typeof MetricsModule;
// From the same build as the worker: its fast event decoder recognizes the built-in schemas by identity.
const { defaultRegistryConfig } = (await load('schemas/default-registry')) as typeof DefaultRegistryModule;
const { parseRegistry } = (await load('schemas/registry')) as typeof RegistryModule;

const EVENTS = Number(process.env.BENCH_WORKER_EVENTS ?? 200_000);
const USERS = 20_000;
const FRESHNESS_RATE = 5_000;
const FRESHNESS_HIGH_RATE = 10_000;
const FRESHNESS_SECONDS = 10;
const FRESHNESS_WARMUP_SECONDS = 3;
/** Write-behind checkpoint interval of the benched workers (checkpoints.ts); 0 = the worker's default. */
const CHECKPOINT_MS = process.env.BENCH_WORKER_CHECKPOINT_MS === undefined ? undefined : Number(process.env.BENCH_WORKER_CHECKPOINT_MS);

const loaded = loadEnvConfig();
// Single-node cases never see the cluster; the cluster cases use REDIS_CLUSTER_NODES when set.
const env: EnvConfig = { ...loaded, REDIS_CLUSTER_NODES: undefined };
const clusterEnv: EnvConfig | undefined = loaded.REDIS_CLUSTER_NODES ? loaded : undefined;
const id = () => randomBytes(4).toString('hex');
const CASES = new Set((process.env.BENCH_WORKER_CASES ?? '1p,4p,raw,warm,sync,cli,cluster,freshness').split(',').map((c) => c.trim()));
const SKIPPED = 'skipped (BENCH_WORKER_CASES)';

async function entityWrites(): Promise<number> {
  return (await workerMetrics.entityWrites.get()).values.reduce((a, v) => a + v.value, 0);
}

function tx(i: number, ts: number): Message {
  const user = `u${(i * 7919) % USERS}`;
  return { key: user, value: JSON.stringify({ event_id: `e${i}`, user_id: user, amount: (i % 1000) / 10, merchant_id: `m${i % 200}`, ts }) };
}

async function setup(kafka: Kafka, partitions: number) {
  const prefix = `fs-bench-${id()}`;
  const input = { ...defaultRegistryConfig, sources: defaultRegistryConfig.sources.map((s) => ({ ...s, topic: `${prefix}-${s.name}` })) };
  const registry = parseRegistry(input);
  const admin = kafka.admin();
  await admin.connect();
  const topics = registry.sources.map((s) => s.topic);
  await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: partitions })), waitForLeaders: true });
  return { prefix, registry, admin, topics, txTopic: `${prefix}-transactions` };
}

async function fill(kafka: Kafka, topic: string, count: number, from = 0): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  const now = Date.now();
  const chunk = 5_000;
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < count; i += chunk) {
    const messages = Array.from({ length: Math.min(chunk, count - i) }, (_, j) => tx(from + i + j, now - ((i + j) % 3_000_000)));
    inFlight.push(producer.send({ topic, messages, acks: 1 }));
    if (inFlight.length >= 4) await inFlight.shift();
  }
  await Promise.all(inFlight);
  await producer.disconnect();
}

async function consumedTotal(topic: string): Promise<number> {
  const m = await workerMetrics.eventsConsumed.get();
  return m.values.filter((v) => v.labels.topic === topic).reduce((a, v) => a + v.value, 0);
}

/** Drains the backlog with one worker; rate measured from its first batch to the last event. */
async function workerRun(
  kafka: Kafka,
  partitions: number,
  runSyncWorkers = false,
  redisEnv: EnvConfig = env,
  waitReplicas: 'auto' | 0 = 'auto',
): Promise<Drained & { warm: () => Promise<Drained>; cleanup: () => Promise<void>; txTopic: string; kafka: Kafka }> {
  const s = await setup(kafka, partitions);
  await fill(kafka, s.txTopic, EVENTS);
  // Dropped at cleanup: the results outlive the case, and a stopped worker's state cache would
  // stay on the heap and lengthen the garbage collections of every later case.
  let worker: WorkerModule.Worker | undefined = createWorker({
    registry: s.registry,
    env: { ...redisEnv, FEATURESTREAM_KEY_PREFIX: `${s.prefix}:` },
    groupId: `${s.prefix}-group`,
    metricsPort: false,
    logger: createLogger({ level: 'warn' }),
    runSyncWorkers,
    waitReplicas,
    // The bench's topics are keyed by user and co-partitioned: the epoch-only fence applies.
    coPartitioned: true,
    checkpointIntervalMs: CHECKPOINT_MS,
  });
  const base = await consumedTotal(s.txTopic);
  /** Drains `events` more (the backlog, or a second one once the worker is warm): rate from the first consumption to the last commit. */
  const drain = async (start: () => Promise<void>, events: number): Promise<Drained> => {
    const serverBefore = await serverCommandStats(redisEnv);
    const clientBefore = new Map(clientSent);
    const writesBefore = await entityWrites();
    const consumedBefore = (await consumedTotal(s.txTopic)) - base;
    const cpuBefore = process.cpuUsage();
    await start();
    let t0 = 0;
    for (;;) {
      const n = (await consumedTotal(s.txTopic)) - base - consumedBefore;
      if (n > 0 && t0 === 0) t0 = performance.now();
      if (n >= events) break;
      await sleep(5);
    }
    // Consumed counts at batch start; wait for the last commit so every write is in.
    for (;;) {
      const offsets = await s.admin.fetchOffsets({ groupId: `${s.prefix}-group`, topics: [s.txTopic] });
      if (offsets[0]!.partitions.reduce((a, p) => a + Math.max(0, Number(p.offset)), 0) >= consumedBefore + events) break;
      await sleep(5);
    }
    const eps = events / ((performance.now() - t0) / 1000);
    const cpu = process.cpuUsage(cpuBefore);
    const written = (await entityWrites()) - writesBefore;
    const serverAfter = await serverCommandStats(redisEnv);
    const server = perEntity(serverBefore, serverAfter, written);
    const client = perEntity(clientBefore, clientSent, written);
    const redisCpuS = (serverAfter.get('cpu:seconds') ?? 0) - (serverBefore.get('cpu:seconds') ?? 0);
    return {
      eps,
      // CPU time is steadier than wall time on a shared machine (the warm case's includes its producer).
      cpuUsPerEvent: Number(((cpu.user + cpu.system) / events).toFixed(2)),
      redisCpuUsPerEntity: Number(((redisCpuS * 1e6) / Math.max(1, written)).toFixed(2)),
      commands: { entities: written, all: server.perEntity, allTop: server.top, client: client.perEntity, clientTop: client.top },
    };
  };
  const cold = await drain(() => worker!.start(), EVENTS);
  return {
    ...cold,
    // The same users again, every state cached: the steady state of a long-running worker.
    warm: () => drain(() => fill(kafka, s.txTopic, EVENTS, EVENTS), EVENTS),
    txTopic: s.txTopic,
    kafka,
    cleanup: async () => {
      await worker?.stop();
      worker = undefined;
      await cleanupKeys(`${s.prefix}:`, redisEnv);
      await s.admin.deleteTopics({ topics: s.topics }).catch(() => undefined);
      await s.admin.disconnect();
    },
  };
}

interface Drained {
  eps: number;
  /** Process CPU (user + system) per event over the drain. */
  cpuUsPerEvent: number;
  /** Redis server CPU per written entity (meaningful on a Redis nothing else uses). */
  redisCpuUsPerEntity: number;
  commands: Commands;
}

interface Commands {
  entities: number;
  all: number;
  allTop: string;
  client: number;
  clientTop: string;
}

async function committed(admin: Awaited<ReturnType<typeof setup>>['admin'], groupId: string, topic: string): Promise<number> {
  const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
  return offsets[0]!.partitions.reduce((a, p) => a + Math.max(0, Number(p.offset)), 0);
}

/** `featurestream worker --processes N` as users run it; rate from its first commit to its last. */
async function processesRun(kafka: Kafka, processes: number): Promise<number> {
  const s = await setup(kafka, 4);
  const dir = mkdtempSync(join(tmpdir(), 'fs-bench-worker-'));
  const config = join(dir, 'registry.json');
  // JSON names the built-in schemas (the default registry's sources are named after them).
  const sources = defaultRegistryConfig.sources.map((src) => ({ ...src, schema: src.name, topic: `${s.prefix}-${src.name}` }));
  writeFileSync(config, JSON.stringify({ ...defaultRegistryConfig, sources }));
  const groupId = `${s.prefix}-group`;
  const cli = process.env.BENCH_WORKER_DIST === '1' ? ['bin/featurestream.mjs'] : ['--import', 'tsx', 'src/cli/main.ts'];
  const child = spawn(process.execPath, [...cli, 'worker', '--config', config, '--group', groupId, '--metrics-port', '0', '--no-sync-workers', '--co-partitioned', '--processes', String(processes)], {
    env: { ...process.env, FEATURESTREAM_KEY_PREFIX: `${s.prefix}:`, LOG_LEVEL: 'warn', REDIS_CLUSTER_NODES: '' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let exitCode: number | null | undefined;
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve((exitCode = code))));
  const alive = () => {
    if (exitCode !== undefined) throw new Error(`featurestream worker --processes ${processes} exited with ${exitCode} before consuming the events`);
  };
  try {
    // Timed from the moment every process has joined (process start-up is not throughput): the
    // events are produced then, and the clock stops at the last commit.
    for (;;) {
      alive();
      const { groups } = await s.admin.describeGroups([groupId]);
      if (groups[0]?.state === 'Stable' && groups[0].members.length === processes) break;
      await sleep(50);
    }
    const t0 = performance.now();
    await fill(kafka, s.txTopic, EVENTS);
    while ((await committed(s.admin, groupId, s.txTopic)) < EVENTS) {
      alive();
      await sleep(5);
    }
    return EVENTS / ((performance.now() - t0) / 1000);
  } finally {
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
    await cleanupKeys(`${s.prefix}:`);
    await s.admin.deleteTopics({ topics: s.topics }).catch(() => undefined);
    await s.admin.disconnect();
  }
}

async function rawRun(kafka: Kafka, topic: string): Promise<number> {
  const consumer = kafka.consumer({ groupId: `fs-bench-raw-${id()}` });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let n = 0;
  let t0 = 0;
  let t1 = 0;
  await consumer.run({
    eachBatch: async ({ batch }) => {
      if (t0 === 0) t0 = performance.now();
      for (const m of batch.messages) if (m.value) n += 1;
      if (n >= EVENTS && t1 === 0) t1 = performance.now();
    },
  });
  while (t1 === 0) await sleep(5);
  await consumer.disconnect();
  return EVENTS / ((t1 - t0) / 1000);
}

/** Quantile from histogram bucket deltas, interpolated linearly inside the bucket. */
async function freshnessBuckets(): Promise<Array<{ le: number; count: number }>> {
  const m = await workerMetrics.freshness.get();
  return m.values
    .filter((v) => v.metricName?.endsWith('_bucket'))
    .map((v) => ({ le: v.labels.le === '+Inf' ? Infinity : Number(v.labels.le), count: v.value }))
    .sort((a, b) => a.le - b.le);
}


/** Freshness at each rate in turn, on one worker: a warm-up at the rate, then the measured window. */
async function freshnessRun(kafka: Kafka, rates: number[]): Promise<{ at: Map<number, Freshness>; cleanup: () => Promise<void> }> {
  const s = await setup(kafka, 4);
  const worker = createWorker({
    registry: s.registry,
    env: { ...env, FEATURESTREAM_KEY_PREFIX: `${s.prefix}:` },
    groupId: `${s.prefix}-group`,
    metricsPort: false,
    logger: createLogger({ level: 'warn' }),
    runSyncWorkers: false,
    coPartitioned: true,
  });
  await worker.start();
  while (!worker.ready()) await sleep(50);
  const at = new Map<number, Freshness>();
  const groupId = `${s.prefix}-group`;
  for (const rate of rates) {
    await pacedProducer({ topic: s.txTopic, seconds: FRESHNESS_WARMUP_SECONDS, rate, users: USERS, brokers: env.KAFKA_BROKERS });
    // The window starts once the warm-up's events are written: a backlog left from the (cold) warm-up is not steady state.
    const warmupDrainMs = await caughtUp(s.admin, s.txTopic, () => committed(s.admin, groupId, s.txTopic));
    const before = await freshnessBuckets();
    const stalled = watchStalls();
    const achievedRate = await pacedProducer({ topic: s.txTopic, seconds: FRESHNESS_SECONDS, rate, users: USERS, brokers: env.KAFKA_BROKERS });
    // Every event of the window is in the histogram before it is read, however late.
    const drainMs = await caughtUp(s.admin, s.txTopic, () => committed(s.admin, groupId, s.txTopic));
    const stalls = stalled();
    const after = await freshnessBuckets();
    const delta = after.map((b, k) => ({ le: b.le, count: b.count - (before[k]?.count ?? 0) }));
    at.set(rate, { p50: quantile(delta, 0.5), p99: quantile(delta, 0.99), achievedRate, drainMs, warmupDrainMs, stalls });
  }
  return {
    at,
    cleanup: async () => {
      await worker.stop();
      await cleanupKeys(`${s.prefix}:`);
      await s.admin.deleteTopics({ topics: s.topics }).catch(() => undefined);
      await s.admin.disconnect();
    },
  };
}

async function cleanupKeys(prefix: string, redisEnv: EnvConfig = env): Promise<void> {
  const seeds = redisEnv.REDIS_CLUSTER_NODES?.map((hp) => ({ host: hp.split(':')[0]!, port: Number(hp.split(':')[1]) }));
  const redis = seeds ? new Cluster(seeds) : new Redis(redisEnv.REDIS_URL);
  if (isCluster(redis)) {
    await new Promise((resolve) => redis.once('ready', resolve));
    await Promise.all(redis.nodes('master').map((node) => deleteMatching(node, `${prefix}*`)));
  } else await deleteMatching(redis, `${prefix}*`);
  redis.disconnect();
}

export default async function run(): Promise<{ metrics: Record<string, number | string>; table: Array<Record<string, string | number>> }> {
  const kafka = createKafka({ brokers: env.KAFKA_BROKERS, clientId: `fs-bench-${id()}` });
  // Shared machines: the load around the run says how far the numbers can be trusted.
  const loadStart = loadavg()[0]!;
  const when = async <T>(name: string, body: () => Promise<T>): Promise<T | undefined> => (CASES.has(name) ? body() : undefined);
  const one = await when('1p', () => workerRun(kafka, 1));
  await one?.cleanup();
  const four = CASES.has('4p') || CASES.has('raw') ? await workerRun(kafka, 4) : undefined;
  const raw = four && CASES.has('raw') ? await rawRun(kafka, four.txTopic) : undefined;
  const warm = four && CASES.has('warm') ? await four.warm() : undefined;
  await four?.cleanup();
  const withSync = await when('sync', () => workerRun(kafka, 4, true));
  await withSync?.cleanup();
  const cliOne = await when('cli', () => processesRun(kafka, 1));
  const cliTwo = await when('cli', () => processesRun(kafka, 2));
  const onCluster = clusterEnv ? await when('cluster', () => workerRun(kafka, 4, false, clusterEnv)) : undefined;
  await onCluster?.cleanup();
  const onClusterNoWait = clusterEnv ? await when('cluster', () => workerRun(kafka, 4, false, clusterEnv, 0)) : undefined;
  await onClusterNoWait?.cleanup();
  const fresh = await when('freshness', () => freshnessRun(kafka, [FRESHNESS_RATE, FRESHNESS_HIGH_RATE]));
  await fresh?.cleanup();
  const at5k = fresh?.at.get(FRESHNESS_RATE);
  const at10k = fresh?.at.get(FRESHNESS_HIGH_RATE);
  const rounded = (n: number | undefined) => (n === undefined ? SKIPPED : Math.round(n));
  const fixed = (n: number | undefined) => (n === undefined ? SKIPPED : Number(n.toFixed(3)));
  const noCluster = (n: number | string) => (clusterEnv ? n : 'no REDIS_CLUSTER_NODES');
  const metrics = {
    events: EVENTS,
    events_per_sec_1p: rounded(one?.eps),
    events_per_sec_4p: rounded(four?.eps),
    events_per_sec: rounded(Math.max(one?.eps ?? 0, four?.eps ?? 0) || undefined),
    redis_cmds_per_entity_1p: one?.commands.all ?? SKIPPED,
    redis_cmds_per_entity_1p_client: one?.commands.client ?? SKIPPED,
    redis_cmds_per_entity_4p: four?.commands.all ?? SKIPPED,
    redis_cmds_per_entity_4p_client: four?.commands.client ?? SKIPPED,
    redis_cmds_4p_top: four?.commands.allTop ?? SKIPPED,
    redis_cmds_4p_client_top: four?.commands.clientTop ?? SKIPPED,
    entities_written_4p: four?.commands.entities ?? SKIPPED,
    worker_cpu_us_per_event_4p: four?.cpuUsPerEvent ?? SKIPPED,
    redis_cpu_us_per_entity_4p: four?.redisCpuUsPerEntity ?? SKIPPED,
    redis_cpu_us_per_entity_4p_warm: warm?.redisCpuUsPerEntity ?? SKIPPED,
    events_per_sec_4p_warm: rounded(warm?.eps),
    redis_cmds_per_entity_4p_warm: warm?.commands.all ?? SKIPPED,
    redis_cmds_per_entity_4p_warm_client: warm?.commands.client ?? SKIPPED,
    redis_cmds_4p_warm_top: warm?.commands.allTop ?? SKIPPED,
    entities_written_4p_warm: warm?.commands.entities ?? SKIPPED,
    redis_cmds_per_entity_4p_cluster: clusterEnv ? (onCluster?.commands.all ?? SKIPPED) : 'no REDIS_CLUSTER_NODES',
    events_per_sec_4p_sync_workers: rounded(withSync?.eps),
    events_per_sec_4p_cli_processes_1: rounded(cliOne),
    events_per_sec_4p_cli_processes_2: rounded(cliTwo),
    processes_ratio: fixed(cliOne && cliTwo ? cliTwo / cliOne : undefined),
    events_per_sec_4p_cluster: noCluster(rounded(onCluster?.eps)),
    events_per_sec_4p_cluster_nowait: noCluster(rounded(onClusterNoWait?.eps)),
    cluster_ratio: noCluster(fixed(onCluster && four ? onCluster.eps / four.eps : undefined)),
    raw_consume_events_per_sec: rounded(raw),
    ratio: fixed(raw && four ? four.eps / raw : undefined),
    freshness_rate_per_sec: FRESHNESS_RATE,
    freshness_ms_p50: rounded(at5k?.p50),
    freshness_ms_p99: rounded(at5k?.p99),
    freshness_ms_p50_at_10k: rounded(at10k?.p50),
    freshness_ms_p99_at_10k: rounded(at10k?.p99),
    freshness_achieved_rate: rounded(at5k?.achievedRate),
    freshness_achieved_rate_at_10k: rounded(at10k?.achievedRate),
    freshness_drain_ms: rounded(at5k?.drainMs),
    freshness_drain_ms_at_10k: rounded(at10k?.drainMs),
    freshness_warmup_drain_ms: rounded(at5k?.warmupDrainMs),
    freshness_warmup_drain_ms_at_10k: rounded(at10k?.warmupDrainMs),
    freshness_loop_delay_ms_p99_max: at5k ? `${Math.round(at5k.stalls.loopDelayP99Ms)} / ${Math.round(at5k.stalls.loopDelayMaxMs)}` : SKIPPED,
    freshness_loop_delay_ms_p99_max_at_10k: at10k ? `${Math.round(at10k.stalls.loopDelayP99Ms)} / ${Math.round(at10k.stalls.loopDelayMaxMs)}` : SKIPPED,
    freshness_gc_ms_max_total: at5k ? `${Math.round(at5k.stalls.gcMaxPauseMs)} / ${Math.round(at5k.stalls.gcTotalMs)}` : SKIPPED,
    freshness_gc_ms_max_total_at_10k: at10k ? `${Math.round(at10k.stalls.gcMaxPauseMs)} / ${Math.round(at10k.stalls.gcTotalMs)}` : SKIPPED,
    load_avg_1m_start: Number(loadStart.toFixed(2)),
    load_avg_1m_end: Number(loadavg()[0]!.toFixed(2)),
  };
  return {
    metrics,
    table: [
      { case: 'worker (no sync workers), 1 partition', events_per_sec: metrics.events_per_sec_1p, goal: '>= 50000' },
      { case: 'worker (no sync workers), 4 partitions', events_per_sec: metrics.events_per_sec_4p, goal: '>= 50000' },
      { case: 'Redis commands per written entity, 4 partitions (all / client-sent)', events_per_sec: `${metrics.redis_cmds_per_entity_4p} / ${metrics.redis_cmds_per_entity_4p_client}`, goal: '<= 2' },
      { case: 'worker, 4 partitions, second backlog of the same users (states cached)', events_per_sec: metrics.events_per_sec_4p_warm, goal: '' },
      { case: 'Redis commands per written entity, warm (all / client-sent)', events_per_sec: `${metrics.redis_cmds_per_entity_4p_warm} / ${metrics.redis_cmds_per_entity_4p_warm_client}`, goal: '<= 2' },
      { case: 'worker + in-process sync workers, 4 partitions', events_per_sec: metrics.events_per_sec_4p_sync_workers, goal: '' },
      { case: 'CLI worker --processes 1, 4 partitions', events_per_sec: metrics.events_per_sec_4p_cli_processes_1, goal: '' },
      { case: 'CLI worker --processes 2, 4 partitions', events_per_sec: metrics.events_per_sec_4p_cli_processes_2, goal: '' },
      { case: 'ratio --processes 2 / 1', events_per_sec: metrics.processes_ratio, goal: '' },
      { case: '3-master cluster + WAIT 1 replica, 4 partitions', events_per_sec: metrics.events_per_sec_4p_cluster, goal: '' },
      { case: '3-master cluster, no WAIT, 4 partitions', events_per_sec: metrics.events_per_sec_4p_cluster_nowait, goal: '' },
      { case: 'ratio cluster (WAIT) / single node (4p)', events_per_sec: metrics.cluster_ratio, goal: '>= 0.75' },
      { case: 'raw kafkajs eachBatch, 4 partitions', events_per_sec: metrics.raw_consume_events_per_sec, goal: '' },
      { case: 'ratio worker/raw (4p)', events_per_sec: metrics.ratio, goal: '>= 0.5' },
      { case: `freshness p50 ms @ ${FRESHNESS_RATE}/s`, events_per_sec: metrics.freshness_ms_p50, goal: '' },
      { case: `freshness p99 ms @ ${FRESHNESS_RATE}/s`, events_per_sec: metrics.freshness_ms_p99, goal: '<= 250' },
      { case: `freshness p50 ms @ ${FRESHNESS_HIGH_RATE}/s`, events_per_sec: metrics.freshness_ms_p50_at_10k, goal: '' },
      { case: `freshness p99 ms @ ${FRESHNESS_HIGH_RATE}/s`, events_per_sec: metrics.freshness_ms_p99_at_10k, goal: '<= 100' },
      {
        case: `freshness @ ${FRESHNESS_HIGH_RATE}/s: rate reached / ms from the last event to its commit`,
        events_per_sec: `${metrics.freshness_achieved_rate_at_10k} / ${metrics.freshness_drain_ms_at_10k}`,
        goal: '',
      },
    ],
  };
}
