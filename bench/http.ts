/**
 * HTTP load test: `featurestream serve` against `feast serve` (Feast's Python
 * feature server), same Redis, same 500 users and values (the reader bench's
 * seeding; Feast's rows are what featurestream serves for them), batches of
 * 100 of the same ids, each server asked in its own request shape for the
 * same 11 stored features (a feature list also keeps featurestream's cache out
 * of it: every request reads Redis).
 *
 *   capacity   autocannon, closed loop, 8 connections: the most req/s each sustains
 *   at<rate>   open loop at a fixed rate (bench/feast/paced.ts): p50/p90/p99, achieved
 *              rate, errors, requests dropped because the server fell behind;
 *              1,000 req/s for both, then half of Feast's capacity for both when
 *              Feast cannot keep up with 1,000; featurestream alone at half its own
 *              capacity (`athalf`) when that is below 1,000.
 *
 * The same Feast request body also goes to featurestream's Feast-shaped route
 * (`featurestream_feast_shape`), after checking both answer the same values.
 *
 * If Feast cannot be installed or started, `feast` says why and featurestream runs alone.
 */
import { loadavg } from 'node:os';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { loadEnvConfig } from '../src/config.ts';
import { loadRegistryFile } from '../src/schemas/registry.ts';
import { Keys } from '../src/stores/keys.ts';
import { createFeastRepo, type FeastRepo } from './feast/repo.ts';
import { pacedLoad, type PacedResult } from './feast/paced.ts';
import { startFeast, startFeaturestream, type RunningServer } from './feast/servers.ts';
import { FEAST_VERSION, ensureFeast } from './feast/venv.ts';
import { seed } from './reader.ts';
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
const JSON_HEADERS = { 'content-type': 'application/json' };

interface Target {
  name: 'featurestream' | 'feast' | 'featurestream_feast_shape';
  url: string;
  body: Buffer;
}

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
  const metrics: Record<string, number | string> = { batch: BATCH, features: features.length, load_avg_1m_start: round(loadavg()[0]!) };
  const table: Array<Record<string, string | number>> = [];
  const servers: RunningServer[] = [];
  let repo: FeastRepo | undefined;
  try {
    await seed(redis, registry, registry.layout, vectorKeys);
    const fs = await startFeaturestream(prefix);
    servers.push(fs);
    const fsTarget: Target = { name: 'featurestream', url: `${fs.url}/features`, body: Buffer.from(JSON.stringify({ entity: 'user', ids: batchIds, features })) };
    await checkFeaturestream(fsTarget);
    const targets: Target[] = [fsTarget];

    const install = ensureFeast();
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
        const shapeTarget: Target = { name: 'featurestream_feast_shape', url: `${fs.url}/get-online-features`, body: feastTarget.body };
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
      table.push({ server: t.name, load: 'capacity, 8 connections, closed loop', p50_ms: c.p50, p99_ms: c.p99, achieved_rps: c.rps, errors: c.errors, dropped: 0 });
    }
    const rates = [RATE];
    const feastCapacity = metrics.feast_capacity_rps;
    if (typeof feastCapacity === 'number' && feastCapacity < RATE * 0.9) rates.push(Math.max(10, Math.floor(feastCapacity / 20) * 10));
    for (const rate of rates) {
      // The lower rate's figures are named `atlow`, with the rate itself in `low_rate`.
      const label = rate === RATE ? `at${RATE}` : 'atlow';
      if (rate !== RATE) metrics.low_rate = rate;
      for (const t of targets) {
        await paced(t, rate, WARMUP_MS);
        const r = await paced(t, rate, measureMs(rate));
        for (const k of ['p50_ms', 'p90_ms', 'p99_ms', 'achieved_rps', 'errors', 'error_kinds', 'dropped'] as const) metrics[`${t.name}_${label}_${k}`] = r[k];
        table.push({ server: t.name, load: `${rate} req/s, open loop`, p50_ms: r.p50_ms, p99_ms: r.p99_ms, achieved_rps: r.achieved_rps, errors: r.errors, dropped: r.dropped });
      }
      const fsP99 = metrics[`featurestream_${label}_p99_ms`];
      const feastP99 = metrics[`feast_${label}_p99_ms`];
      if (typeof fsP99 === 'number' && typeof feastP99 === 'number') metrics[`p99_feast_vs_featurestream_${label}`] = round(feastP99 / fsP99, 1);
    }
    // featurestream alone at half its own capacity, when that is below 1,000 req/s: its latency where it is not overloaded.
    const ownCapacity = Number(metrics.featurestream_capacity_rps);
    if (ownCapacity < RATE * 0.9) {
      const rate = Math.max(10, Math.floor(ownCapacity / 100) * 50);
      metrics.half_capacity_rate = rate;
      await paced(fsTarget, rate, WARMUP_MS);
      const r = await paced(fsTarget, rate, measureMs(rate));
      for (const k of ['p50_ms', 'p90_ms', 'p99_ms', 'achieved_rps', 'errors', 'error_kinds', 'dropped'] as const) metrics[`featurestream_athalf_${k}`] = r[k];
      table.push({ server: 'featurestream', load: `${rate} req/s, open loop (half its capacity)`, p50_ms: r.p50_ms, p99_ms: r.p99_ms, achieved_rps: r.achieved_rps, errors: r.errors, dropped: r.dropped });
    }
    metrics.load_avg_1m_end = round(loadavg()[0]!);
    return { metrics, table };
  } finally {
    for (const s of servers.reverse()) await s.stop();
    await repo?.close();
    if (redis.status === 'ready') await redis.unlink(...vectorKeys);
    redis.disconnect();
  }
}

async function post(url: string, body: Buffer | string): Promise<unknown> {
  const res = await fetch(url, { method: 'POST', body, headers: JSON_HEADERS });
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

/** One request before the load: featurestream answers every id from Redis. */
async function checkFeaturestream(t: Target): Promise<void> {
  const { vectors } = (await post(t.url, t.body)) as { vectors: Array<{ source: string }> };
  const fromRedis = vectors.filter((v) => v.source === 'redis').length;
  if (vectors.length !== BATCH || fromRedis !== BATCH) throw new Error(`featurestream served ${vectors.length} vectors, ${fromRedis} from Redis; expected ${BATCH}`);
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
async function capacity(t: Target): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const load = { url: t.url, method: 'POST' as const, headers: JSON_HEADERS, body: t.body, connections: 8 };
  await autocannon({ ...load, duration: WARMUP_MS / 1_000 });
  const r = await autocannon({ ...load, duration: CAPACITY_S });
  return { rps: round(r.requests.average, 0), p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx };
}

function paced(t: Target, rate: number, durationMs: number): Promise<PacedResult> {
  return pacedLoad({ url: t.url, body: t.body, headers: JSON_HEADERS, rate, durationMs, connections: 64, maxBacklog: 256, timeoutMs: 10_000 });
}
