/**
 * HTTP load test: `featurestream serve` against `feast serve` (Feast's Python
 * feature server), same Redis, same 500 users and values (the reader bench's
 * seeding; Feast's rows are what featurestream serves for them), batches of
 * 100 of the same ids, each server asked in its own request shape for the
 * same 11 stored features (a feature list also keeps featurestream's cache out
 * of it: every request reads Redis).
 *
 * featurestream runs twice: one process (`featurestream`) and `--processes 2`
 * (`featurestream_2p`, one per core of this 2-core machine). Those vectors never
 * change, the decode memo's best case; `featurestream_changing` is the same
 * process while a writer here rewrites the batch's vectors (new values, new
 * write time) at WRITES_PER_S, as a worker would, so some reads decode again,
 * and `featurestream_nomemo` decodes every read (`--no-decode-memo`).
 *
 *   capacity   autocannon, closed loop, 8 connections: the most req/s each sustains
 *   at<rate>   open loop at a fixed rate (bench/feast/paced.ts): p50/p90/p99, achieved
 *              rate, errors, requests dropped because the server fell behind;
 *              1,000 req/s for both, then half of Feast's capacity for both when
 *              Feast cannot keep up with 1,000; featurestream alone at half its own
 *              capacity (`athalf`) when that is below 1,000.
 *
 * Every featurestream row also says which share of the vectors came from Redis
 * (`from_redis_pct`, the servers' own /metrics before and after): an overloaded
 * reader answers by its deadline with defaults, fast but not the stored values.
 * Its open-loop figures add the server's own CPU and GC pauses per request
 * (`server_cpu_us_per_req`, `gc_pauses_per_1000_req`, `gc_ms_per_1000_req`,
 * same /metrics), steadier than latency when other processes share the cores,
 * and how late its event loop ran over the run (`server_loop_late_p99_ms`, `_max_ms`):
 * a tail the server's loop did not see came from outside it.
 * featurestream runs with SERVER_NODE_FLAGS (`featurestream_node_flags`).
 * A row whose achieved rate is short of the asked rate, or that dropped
 * requests, says `overloaded` in its note.
 *
 * The floor, `node_static`, is node:http answering featurestream's answer
 * bytes from memory to every request (bench/feast/static-server.ts): the p99
 * this machine, this load generator and Node's HTTP stack give on their own,
 * in the same run (`p99_featurestream_vs_floor_<label>`).
 *
 * The same Feast request body also goes to featurestream's Feast-shaped route
 * (`featurestream_feast_shape`), after checking both answer the same values.
 *
 * If Feast cannot be installed or started, `feast` says why and featurestream runs alone.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { loadEnvConfig } from '../src/config.ts';
import { loadRegistryFile } from '../src/schemas/registry.ts';
import { Keys } from '../src/stores/keys.ts';
import { createFeastRepo, type FeastRepo } from './feast/repo.ts';
import { pacedLoad, type PacedResult } from './feast/paced.ts';
import { startFeast, startFeaturestream, startStatic, type RunningServer } from './feast/servers.ts';
import { FEAST_VERSION, ensureFeast } from './feast/venv.ts';
import { serverNodeFlags } from '../src/cli/serve-processes.ts';
import { queueVectorWrite } from '../src/stores/stored-vector.ts';
import { sampleVector, seed, vectorFields } from './reader.ts';
import type { Registry } from '../src/schemas/registry.ts';
import type { BenchResult } from './run.ts';

const ENTITIES = 500;
const BATCH = 100;
const RATE = 1_000;
const WARMUP_MS = 2_000;
const MEASURE_MS = 15_000;
/** A p99 wants samples: a low rate runs longer, up to a minute, for at least this many requests. */
const MIN_SAMPLES = 600;

function measureMs(rate: number): number {
  return Math.min(60_000, Math.max(MEASURE_MS, (MIN_SAMPLES / rate) * 1_000));
}
const CAPACITY_S = 5;
/** Vector rewrites per second of `featurestream_changing`, spread over the batch's ids: each changes 20 times a second. */
const WRITES_PER_S = 2_000;
/** How often the writer sends its rewrites. */
const WRITE_EVERY_MS = 10;
const JSON_HEADERS = { 'content-type': 'application/json' };

interface Target {
  name: 'featurestream' | 'featurestream_2p' | 'featurestream_nomemo' | 'featurestream_changing' | 'feast' | 'featurestream_feast_shape' | 'node_static';
  url: string;
  body: Buffer;
  /** featurestream's /metrics, for the share of vectors served from Redis. */
  metricsUrl?: string;
  /** Starts rewriting the served vectors while the target is measured; stop() resolves with the rewrites per second. */
  writer?: () => { stop(): Promise<number> };
}

type Row = Record<string, string | number>;

const round = (n: number, digits = 2) => Number(n.toFixed(digits));

export default async function run(): Promise<BenchResult> {
  const env = loadEnvConfig();
  const registry = await loadRegistryFile();
  const prefix = `fs-bench-http-${process.pid}-${Date.now()}:`;
  const keys = new Keys({ prefix });
  const redis = new Redis(env.REDIS_URL, { enableOfflineQueue: true, maxRetriesPerRequest: 0 });
  const ids = Array.from({ length: ENTITIES }, (_, i) => `u${i}`);
  const vectorKeys = ids.map((entityId) => keys.vector({ entityType: 'user', entityId }, 'features'));
  const features = registry.featuresOf('user').map((f) => f.name);
  const batchIds = ids.slice(0, BATCH);
  const metrics: Record<string, number | string> = {
    batch: BATCH,
    features: features.length,
    featurestream_node_flags: serverNodeFlags().join(' ') || 'none',
    load_avg_1m_start: round(loadavg()[0]!),
  };
  const table: Row[] = [];
  const servers: RunningServer[] = [];
  let repo: FeastRepo | undefined;
  let tmp: string | undefined;
  try {
    // Before any server starts: a first install blocks this process for minutes (spawnSync), past
    // the servers' keep-alive timeout, and fetch's pooled connections to them would then fail.
    const install = ensureFeast();
    await seed(redis, registry, registry.layout, vectorKeys);
    const fs = await startFeaturestream(prefix);
    servers.push(fs);
    const fsBody = Buffer.from(JSON.stringify({ entity: 'user', ids: batchIds, features }));
    const fsTarget: Target = { name: 'featurestream', url: `${fs.url}/features`, body: fsBody, metricsUrl: `${fs.url}/metrics` };
    await checkFeaturestream(fsTarget);
    const fs2 = await startFeaturestream(prefix, ['--processes', '2']);
    servers.push(fs2);
    const fs2Target: Target = { name: 'featurestream_2p', url: `${fs2.url}/features`, body: fsBody, metricsUrl: `${fs2.url}/metrics` };
    await checkFeaturestream(fs2Target);
    // The bench's vectors never change, the decode memo's best case: the same server without it is the worst.
    const fsRaw = await startFeaturestream(prefix, ['--no-decode-memo']);
    servers.push(fsRaw);
    const fsRawTarget: Target = { name: 'featurestream_nomemo', url: `${fsRaw.url}/features`, body: fsBody, metricsUrl: `${fsRaw.url}/metrics` };
    await checkFeaturestream(fsRawTarget);
    const changing: Target = { ...fsTarget, name: 'featurestream_changing', writer: () => startWriter(redis, registry, vectorKeys.slice(0, BATCH)) };
    // The floor: featurestream's answer bytes from memory, through node:http alone.
    tmp = await mkdtemp(join(tmpdir(), 'fs-bench-http-'));
    const answerFile = join(tmp, 'answer.json');
    const answer = Buffer.from(await (await fetch(fsTarget.url, { method: 'POST', body: fsBody, headers: JSON_HEADERS })).arrayBuffer());
    await writeFile(answerFile, answer);
    const floor = await startStatic(answerFile);
    servers.push(floor);
    const floorTarget: Target = { name: 'node_static', url: `${floor.url}/features`, body: fsBody };
    metrics.answer_bytes = answer.length;
    const targets: Target[] = [floorTarget, fsTarget, fs2Target, fsRawTarget, changing];

    if (!install.ok) metrics.feast = `unavailable: ${install.reason}`;
    else {
      try {
        repo = await createFeastRepo({ python: install.python, redisUrl: env.REDIS_URL, registry, entity: 'user', rows: await servedRows(fs.url, ids, features) });
        const feast = await startFeast(install.bin, repo.dir);
        servers.push(feast);
        const feastTarget: Target = {
          name: 'feast',
          url: `${feast.url}/get-online-features`,
          body: Buffer.from(JSON.stringify({ features: repo.refs, entities: { [repo.joinKey]: batchIds } })),
        };
        await checkFeast(feastTarget, features.length);
        // Feast's own request body, sent to featurestream's Feast-shaped route.
        const shapeTarget: Target = { name: 'featurestream_feast_shape', url: `${fs.url}/get-online-features`, body: feastTarget.body, metricsUrl: fsTarget.metricsUrl };
        metrics.feast_shape_same_values = await sameColumns(shapeTarget, feastTarget);
        targets.push(feastTarget, shapeTarget);
        metrics.feast = `feast ${FEAST_VERSION} feast serve: 1 worker (gunicorn + uvicorn), no access log, no worker recycling`;
      } catch (err) {
        metrics.feast = `unavailable: ${(err as Error).message}`;
      }
    }

    for (const t of targets) {
      const c = await capacity(t);
      metrics[`${t.name}_capacity_rps`] = c.rps;
      if (c.fromRedisPct !== undefined) metrics[`${t.name}_capacity_from_redis_pct`] = c.fromRedisPct;
      table.push(row(t, 'capacity, 8 connections, closed loop', { p50_ms: c.p50, p99_ms: c.p99, achieved_rps: c.rps, errors: c.errors, dropped: 0 }, c.fromRedisPct));
    }
    const rates = [RATE];
    const feastCapacity = metrics.feast_capacity_rps;
    if (typeof feastCapacity === 'number' && feastCapacity < RATE * 0.9) rates.push(Math.max(10, Math.floor(feastCapacity / 20) * 10));
    for (const rate of rates) {
      // The lower rate's figures are named `atlow`, with the rate itself in `low_rate`.
      const label = rate === RATE ? `at${RATE}` : 'atlow';
      if (rate !== RATE) metrics.low_rate = rate;
      for (const t of targets) await measurePaced(t, rate, label, `${rate} req/s, open loop`, metrics, table);
      const feastP99 = metrics[`feast_${label}_p99_ms`];
      for (const fsName of ['featurestream', 'featurestream_2p']) {
        const fsP99 = metrics[`${fsName}_${label}_p99_ms`];
        const suffix = fsName === 'featurestream' ? '' : '_2p';
        if (typeof fsP99 === 'number' && typeof feastP99 === 'number') metrics[`p99_feast_vs_featurestream${suffix}_${label}`] = round(feastP99 / fsP99, 1);
        const floorP99 = metrics[`node_static_${label}_p99_ms`];
        if (typeof fsP99 === 'number' && typeof floorP99 === 'number') metrics[`p99_featurestream${suffix}_vs_floor_${label}`] = round(fsP99 / floorP99, 2);
      }
    }
    const steadyCpu = metrics[`featurestream_at${RATE}_server_cpu_us_per_req`];
    const changingCpu = metrics[`featurestream_changing_at${RATE}_server_cpu_us_per_req`];
    if (typeof steadyCpu === 'number' && typeof changingCpu === 'number') metrics[`cpu_changing_vs_steady_at${RATE}`] = round(changingCpu / steadyCpu, 2);
    // featurestream alone at half its own capacity, when that is below 1,000 req/s: its latency where it is not overloaded.
    for (const t of [fsTarget, fs2Target]) {
      const ownCapacity = Number(metrics[`${t.name}_capacity_rps`]);
      if (ownCapacity >= RATE * 0.9) continue;
      const rate = Math.max(10, Math.floor(ownCapacity / 100) * 50);
      metrics[t === fsTarget ? 'half_capacity_rate' : 'half_capacity_rate_2p'] = rate;
      await measurePaced(t, rate, 'athalf', `${rate} req/s, open loop (half its capacity)`, metrics, table);
    }
    metrics.load_avg_1m_end = round(loadavg()[0]!);
    return { metrics, table };
  } finally {
    for (const s of servers.reverse()) await s.stop();
    await repo?.close();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
    if (redis.status === 'ready') await redis.unlink(...vectorKeys);
    redis.disconnect();
  }
}

async function post(url: string, body: Buffer | string): Promise<unknown> {
  const res = await fetch(url, { method: 'POST', body, headers: JSON_HEADERS });
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

/**
 * Requests before the load: featurestream answers every id from Redis. The first
 * ones of a new process (cold JIT, first connection) can pass its 50 ms deadline
 * on a loaded machine and so serve defaults: those are asked again.
 */
async function checkFeaturestream(t: Target): Promise<void> {
  let served = '';
  for (let attempt = 0; attempt < 10; attempt++) {
    const { vectors } = (await post(t.url, t.body)) as { vectors: Array<{ source: string }> };
    const fromRedis = vectors.filter((v) => v.source === 'redis').length;
    if (vectors.length === BATCH && fromRedis === BATCH) return;
    served = `${vectors.length} vectors, ${fromRedis} from Redis`;
  }
  throw new Error(`featurestream (${t.name}) served ${served} ten times; expected ${BATCH} from Redis`);
}

/** One request before the load: Feast answers the join key plus every feature for every id. */
async function checkFeast(t: Target, featureCount: number): Promise<void> {
  const { results } = (await post(t.url, t.body)) as { results: Array<{ values: unknown[] }> };
  if (results.length !== featureCount + 1 || results.some((r) => r.values.length !== BATCH || r.values.some((v) => v === null))) {
    throw new Error(`feast answered ${results.length} columns; expected ${featureCount + 1} of ${BATCH} non-null values`);
  }
}

/**
 * `yes`, or the first value that differs between the two Feast-shaped answers
 * (timestamps aside). A loaded machine can push featurestream past its 50 ms
 * deadline and so to defaults (status NOT_FOUND): such an answer is asked again.
 */
async function sameColumns(ours: Target, feast: Target): Promise<string> {
  type Answer = { metadata: { feature_names: string[] }; results: Array<{ values: unknown[]; statuses: string[] }> };
  const columns = (a: Answer) => new Map(a.metadata.feature_names.map((name, i) => [name, a.results[i]!]));
  const theirs = columns((await post(feast.url, feast.body)) as Answer);
  let mine = columns((await post(ours.url, ours.body)) as Answer);
  for (let attempt = 1; attempt < 5 && [...mine.values()].some((c) => c.statuses.includes('NOT_FOUND')); attempt++) {
    mine = columns((await post(ours.url, ours.body)) as Answer);
  }
  if (mine.size !== theirs.size) return `no: ${mine.size} columns from featurestream, ${theirs.size} from Feast`;
  for (const [name, column] of theirs) {
    const values = mine.get(name)?.values ?? [];
    const row = column.values.findIndex((v, i) => JSON.stringify(v) !== JSON.stringify(values[i]));
    if (row >= 0) return `no: ${name}[${row}] is ${JSON.stringify(values[row])} from featurestream, ${JSON.stringify(column.values[row])} from Feast`;
  }
  return 'yes';
}

/** The stored feature values featurestream serves for `ids`: what Feast is given. */
async function servedRows(url: string, ids: string[], features: string[]): Promise<Map<string, Record<string, unknown>>> {
  const { vectors } = (await post(`${url}/features`, JSON.stringify({ entity: 'user', ids, features }))) as {
    vectors: Array<{ entity_id: string; features: Record<string, unknown> }>;
  };
  return new Map(vectors.map((v) => [v.entity_id, v.features]));
}

/** After a warm-up of the same load: the first requests a server sees pay for JIT and plan compilation. */
async function capacity(t: Target): Promise<{ rps: number; p50: number; p99: number; errors: number; fromRedisPct: number | undefined }> {
  const load = { url: t.url, method: 'POST' as const, headers: JSON_HEADERS, body: t.body, connections: 8 };
  const [c] = await whileWriting(t, async () => {
    await autocannon({ ...load, duration: WARMUP_MS / 1_000 });
    const before = await vectorSources(t);
    const r = await autocannon({ ...load, duration: CAPACITY_S });
    const fromRedisPct = redisShare(before, await vectorSources(t));
    return { rps: round(r.requests.average, 0), p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx, fromRedisPct };
  });
  return c;
}

/** A warm-up at the rate, then the measured run: figures under `<target>_<label>_*` and a table row. */
async function measurePaced(t: Target, rate: number, label: string, load: string, metrics: Record<string, number | string>, table: Row[]): Promise<void> {
  const [{ before, r, after }, writes] = await whileWriting(t, async () => {
    await paced(t, rate, WARMUP_MS);
    const before = await vectorSources(t);
    const r = await paced(t, rate, measureMs(rate));
    return { before, r, after: await vectorSources(t) };
  });
  if (writes !== undefined) metrics[`${t.name}_${label}_vector_writes_per_s`] = writes;
  const fromRedisPct = redisShare(before, after);
  for (const k of ['p50_ms', 'p90_ms', 'p99_ms', 'achieved_rps', 'errors', 'error_kinds', 'dropped'] as const) metrics[`${t.name}_${label}_${k}`] = r[k];
  if (fromRedisPct !== undefined) metrics[`${t.name}_${label}_from_redis_pct`] = fromRedisPct;
  for (const [k, v] of Object.entries(serverCost(before, after, r.ok))) metrics[`${t.name}_${label}_${k}`] = v;
  const overloaded = r.achieved_rps < rate * 0.95 || r.dropped > 0;
  table.push(row(t, load, { p50_ms: r.p50_ms, p99_ms: r.p99_ms, achieved_rps: r.achieved_rps, errors: r.errors, dropped: r.dropped }, fromRedisPct, overloaded ? `overloaded: ${r.achieved_rps} of ${rate} req/s` : ''));
}

function row(t: Target, load: string, figures: Row, fromRedisPct: number | undefined, note = ''): Row {
  return { server: t.name, load, ...figures, from_redis_pct: fromRedisPct ?? '', note };
}

/**
 * prom-client's event-loop sampling interval (its default precision): Node's delay histogram
 * records the whole interval between samples, so a loop that is never late reads 10 ms.
 */
const LOOP_SAMPLE_MS = 10;

/** What featurestream's /metrics says so far (summed over its processes): vectors by source, CPU, GC pauses. */
interface ServerCounters {
  sources: Map<string, number>;
  cpuSeconds: number;
  gcSeconds: number;
  gcCount: number;
  /** Event-loop delay since the previous scrape (prom-client resets it on each): p99 and max, seconds. */
  loopP99: number;
  loopMax: number;
}

/** featurestream's counters; undefined for Feast. */
async function vectorSources(t: Target): Promise<ServerCounters | undefined> {
  if (t.metricsUrl === undefined) return undefined;
  const text = await (await fetch(t.metricsUrl)).text();
  const counters: ServerCounters = { sources: new Map(), cpuSeconds: 0, gcSeconds: 0, gcCount: 0, loopP99: 0, loopMax: 0 };
  for (const line of text.split('\n')) {
    const match = /^featurestream_reader_vectors_total\{source="([a-z]+)"\} (\S+)$/.exec(line);
    if (match) counters.sources.set(match[1]!, Number(match[2]));
    else if (line.startsWith('process_cpu_seconds_total ')) counters.cpuSeconds += Number(line.split(' ')[1]);
    else if (line.startsWith('nodejs_gc_duration_seconds_sum{')) counters.gcSeconds += Number(line.split(' ').at(-1));
    else if (line.startsWith('nodejs_gc_duration_seconds_count{')) counters.gcCount += Number(line.split(' ').at(-1));
    else if (line.startsWith('nodejs_eventloop_lag_p99_seconds ')) counters.loopP99 = Math.max(counters.loopP99, Number(line.split(' ')[1]));
    else if (line.startsWith('nodejs_eventloop_lag_max_seconds ')) counters.loopMax = Math.max(counters.loopMax, Number(line.split(' ')[1]));
  }
  return counters;
}

function redisShare(before: ServerCounters | undefined, after: ServerCounters | undefined): number | undefined {
  if (before === undefined || after === undefined) return undefined;
  let total = 0;
  for (const [source, n] of after.sources) total += n - (before.sources.get(source) ?? 0);
  const redis = (after.sources.get('redis') ?? 0) - (before.sources.get('redis') ?? 0);
  return total > 0 ? round((100 * redis) / total, 1) : undefined;
}

/**
 * The server's own cost per answered request over a run, from its /metrics: CPU (all its processes),
 * GC pauses, and how late its event loop ran (the largest of its processes'). Less noisy than latency on a shared machine, where other processes' load moves the tail.
 */
function serverCost(before: ServerCounters | undefined, after: ServerCounters | undefined, ok: number): Row {
  if (before === undefined || after === undefined || ok === 0) return {};
  return {
    server_cpu_us_per_req: round(((after.cpuSeconds - before.cpuSeconds) * 1e6) / ok, 0),
    gc_pauses_per_1000_req: round(((after.gcCount - before.gcCount) * 1_000) / ok, 1),
    gc_ms_per_1000_req: round(((after.gcSeconds - before.gcSeconds) * 1e6) / ok, 1),
    server_loop_late_p99_ms: round(after.loopP99 * 1_000 - LOOP_SAMPLE_MS, 2),
    server_loop_late_max_ms: round(after.loopMax * 1_000 - LOOP_SAMPLE_MS, 2),
  };
}

function paced(t: Target, rate: number, durationMs: number): Promise<PacedResult> {
  return pacedLoad({ url: t.url, body: t.body, headers: JSON_HEADERS, rate, durationMs, connections: 64, maxBacklog: 256, timeoutMs: 10_000 });
}

/** Runs `work` while the target's writer, if it has one, rewrites its vectors; with the rewrites per second achieved. */
async function whileWriting<T>(t: Target, work: () => Promise<T>): Promise<[T, number | undefined]> {
  const writer = t.writer?.();
  let result: T;
  try {
    result = await work();
  } catch (err) {
    await writer?.stop();
    throw err;
  }
  return [result, await writer?.stop()];
}

/**
 * Rewrites `vectorKeys` in turn, WRITES_PER_S a second in batches every
 * WRITE_EVERY_MS, each with a new count, version and write time: what the
 * worker does to a hot entity. stop() waits for the batch in flight and
 * resolves with the rewrites per second achieved.
 */
function startWriter(redis: Redis, registry: Registry, vectorKeys: string[]): { stop(): Promise<number> } {
  const fields = vectorFields(registry, registry.layout);
  const started = performance.now();
  let written = 0;
  let next = 0;
  let inFlight: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - started) * WRITES_PER_S) / 1_000) - written;
    if (due <= 0) return;
    const pipeline = redis.pipeline();
    for (let i = 0; i < due; i++) {
      const version = 2 + written + i;
      queueVectorWrite(pipeline, vectorKeys[next]!, fields(sampleVector(version), version, Date.now()));
      next = (next + 1) % vectorKeys.length;
    }
    written += due;
    inFlight = pipeline.exec();
  }, WRITE_EVERY_MS);
  return {
    stop: async () => {
      clearInterval(timer);
      await inFlight;
      return round((written * 1_000) / (performance.now() - started), 0);
    },
  };
}
