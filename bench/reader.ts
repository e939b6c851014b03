/**
 * Reader latency against the Redis at REDIS_URL, same run, same features and values:
 *   reader       createFeatureReader().getMany (cache disabled) over the registry's
 *                default layout (packed): decode, defaults, on-demand, metrics; packed
 *                vectors are read by one MGET on a single node
 *   sequential   one awaited HGETALL per entity of the seed's per-field layout (the seed's anti-pattern)
 *   bare         one ioredis pipeline of HGETALLs of the per-field layout, no decoding (the seed's floor)
 *   bare_packed  one ioredis pipeline of GETs of the packed strings, no decoding
 *   bare_mget    one ioredis MGET of the packed strings, no decoding (the reader's own floor)
 * for batches of 1, 10, 100 and 500 entities of the default registry, plus the
 * cost of an in-process cache hit. Both layouts are seeded under their own key
 * prefixes. Modes are interleaved per iteration, in an order that rotates each
 * iteration (no mode always runs after the garbage of the same other mode), so
 * drift (GC, other load) hits all alike. The measured iterations are cut into
 * ROUNDS consecutive rounds; the batch-100 ratios are also given per round
 * (`*_rounds_min/median/max`): their spread says how far one run's ratio can be trusted.
 * For batch 100 also each mode's client CPU per call (`*_batch100_cpu_us`: this
 * process, GC threads included) and Redis' own time per command from INFO
 * commandstats (`redis_*_usec_per_call_batch100`: command execution only;
 * "n/a" when other clients ran the same commands meanwhile): where a mode's wall time goes, Redis or this process.
 */
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { Registry as MetricsRegistry } from 'prom-client';
import { loadEnvConfig } from '../src/config.ts';
import { createFeatureReader } from '../src/serving/reader.ts';
import { loadRegistryFile, type FeatureValue } from '../src/schemas/registry.ts';
import { Keys } from '../src/stores/keys.ts';
import { queueVectorWrite } from '../src/stores/stored-vector.ts';
import { GroupCodec } from '../src/stores/vector-layout.ts';
import type { Registry, VectorLayout } from '../src/schemas/registry.ts';
import { feastBesideReader } from './feast/reader-hook.ts';

const BATCHES = [1, 10, 100, 500] as const;
const ENTITIES = 500;
const MODES = ['reader', 'sequential', 'bare', 'bare_packed', 'bare_mget'] as const;
type Mode = (typeof MODES)[number];

function iterationsFor(batch: number): number {
  return batch >= 500 ? 200 : batch >= 100 ? 600 : 800;
}

const ROUNDS = 10;

/** The ratio of two modes' p50 in each round of consecutive iterations (samples are in iteration order). */
function roundRatios(num: number[], den: number[]): { min: number; median: number; max: number } {
  const size = Math.floor(num.length / ROUNDS);
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const p50 = (xs: number[]) => percentile(xs.slice(r * size, (r + 1) * size).sort((a, b) => a - b), 50);
    ratios.push(p50(num) / p50(den));
  }
  ratios.sort((a, b) => a - b);
  return { min: round(ratios[0]!, 3), median: round(percentile(ratios, 50), 3), max: round(ratios.at(-1)!, 3) };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (n: number, digits = 1) => Number(n.toFixed(digits));

/** Calls and microseconds per command name so far (INFO commandstats). */
async function commandStats(redis: Redis): Promise<Map<string, { calls: number; usec: number }>> {
  const out = new Map<string, { calls: number; usec: number }>();
  for (const [, name, calls, usec] of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) out.set(name!, { calls: Number(calls), usec: Number(usec) });
  return out;
}

/**
 * Redis' microseconds per call of `name` between two snapshots; "n/a" unless
 * `expected` calls ran, or at most `slack` more (no other client's work mixed in).
 */
function usecPerCall(before: Map<string, { calls: number; usec: number }>, after: Map<string, { calls: number; usec: number }>, name: string, expected: number, slack = 0): number | string {
  const calls = (after.get(name)?.calls ?? 0) - (before.get(name)?.calls ?? 0);
  if (calls < expected || calls > expected + slack) return 'n/a';
  return round(((after.get(name)?.usec ?? 0) - (before.get(name)?.usec ?? 0)) / calls, 2);
}

export default async function run(): Promise<{ metrics: Record<string, number | string>; table: Array<Record<string, string | number>> }> {
  const env = loadEnvConfig();
  const registry = await loadRegistryFile();
  const run = `fs-bench-${process.pid}-${Date.now()}`;
  // The reader's keyspace (the registry's layout) and the seed's per-field copy of the same vectors.
  const keys = new Keys({ prefix: `${run}:` });
  const fieldKeys = new Keys({ prefix: `${run}-fields:` });
  const redis = new Redis(env.REDIS_URL, { enableOfflineQueue: true, maxRetriesPerRequest: 0 });
  const ids = Array.from({ length: ENTITIES }, (_, i) => `u${i}`);
  const vectorKeys = ids.map((entityId) => keys.vector({ entityType: 'user', entityId }, 'features'));
  const fieldVectorKeys = ids.map((entityId) => fieldKeys.vector({ entityType: 'user', entityId }, 'features'));
  try {
    await seed(redis, registry, registry.layout, vectorKeys);
    await seed(redis, registry, 'fields', fieldVectorKeys);
    const reader = createFeatureReader({ registry, redis, dynamodb: false, keys, cache: false, metrics: new MetricsRegistry(), deadlineMs: 1_000 });
    const cached = createFeatureReader({ registry, redis, dynamodb: false, keys, metrics: new MetricsRegistry(), deadlineMs: 1_000 });

    const calls: Record<Mode, (n: number) => Promise<unknown>> = {
      reader: (n) => reader.getMany('user', ids.slice(0, n)),
      sequential: async (n) => {
        for (let i = 0; i < n; i++) await redis.hgetall(fieldVectorKeys[i]!);
      },
      bare: (n) => {
        const p = redis.pipeline();
        for (let i = 0; i < n; i++) p.hgetall(fieldVectorKeys[i]!);
        return p.exec();
      },
      bare_packed: (n) => {
        const p = redis.pipeline();
        for (let i = 0; i < n; i++) p.getBuffer(vectorKeys[i]!);
        return p.exec();
      },
      bare_mget: (n) => redis.mgetBuffer(...vectorKeys.slice(0, n)),
    };

    const table: Array<Record<string, string | number>> = [];
    const metrics: Record<string, number | string> = {
      redis_url: env.REDIS_URL.replace(/\/\/[^@]*@/, '//'),
      entities: ENTITIES,
      features_per_entity: registry.featuresOf('user').length,
      reader_layout: registry.layout,
      // Other work on the machine inflates every mode alike; recorded to read the absolute numbers.
      load_avg_1m_start: round(loadavg()[0]!, 2),
    };
    for (const batch of BATCHES) {
      const samples: Record<Mode, number[]> = { reader: [], sequential: [], bare: [], bare_packed: [], bare_mget: [] };
      const cpu: Record<Mode, number> = { reader: 0, sequential: 0, bare: 0, bare_packed: 0, bare_mget: 0 };
      const iterations = iterationsFor(batch);
      const warmup = Math.ceil(iterations / 10);
      const statsBefore = batch === 100 ? await commandStats(redis) : undefined;
      for (let i = -warmup; i < iterations; i++) {
        for (let m = 0; m < MODES.length; m++) {
          const mode = MODES[(m + Math.max(0, i)) % MODES.length]!;
          const cpuStart = process.cpuUsage();
          const started = performance.now();
          await calls[mode](batch);
          if (i < 0) continue;
          samples[mode].push(performance.now() - started);
          const used = process.cpuUsage(cpuStart);
          cpu[mode] += used.user + used.system;
        }
      }
      if (statsBefore !== undefined) {
        const statsAfter = await commandStats(redis);
        const runs = warmup + iterations;
        // One MGET per getMany and per bare_mget call; one GET per entity in bare_packed.
        metrics.redis_mget_usec_per_call_batch100 = usecPerCall(statsBefore, statsAfter, 'mget', runs * 2);
        metrics.redis_get_usec_per_call_batch100 = usecPerCall(statsBefore, statsAfter, 'get', runs * batch);
        for (const mode of MODES) metrics[`${mode}_batch100_cpu_us`] = round(cpu[mode] / iterations);
      }
      if (batch === 100) {
        for (const [name, num, den] of [
          ['batch100_p50_vs_bare', 'reader', 'bare'],
          ['batch100_p50_vs_bare_packed', 'reader', 'bare_packed'],
          ['batch100_p50_vs_bare_mget', 'reader', 'bare_mget'],
        ] as const) {
          const spread = roundRatios(samples[num], samples[den]);
          metrics[`${name}_rounds_min`] = spread.min;
          metrics[`${name}_rounds_median`] = spread.median;
          metrics[`${name}_rounds_max`] = spread.max;
        }
      }
      for (const mode of MODES) {
        const sorted = [...samples[mode]].sort((a, b) => a - b);
        const p50 = percentile(sorted, 50) * 1_000;
        const p99 = percentile(sorted, 99) * 1_000;
        metrics[`${mode}_batch${batch}_p50_us`] = round(p50);
        metrics[`${mode}_batch${batch}_p99_us`] = round(p99);
        table.push({ batch, mode, p50_us: round(p50), p99_us: round(p99), iterations });
      }
    }
    metrics.batch100_p50_vs_bare = round(Number(metrics.reader_batch100_p50_us) / Number(metrics.bare_batch100_p50_us), 3);
    metrics.batch100_p50_vs_sequential = round(Number(metrics.reader_batch100_p50_us) / Number(metrics.sequential_batch100_p50_us), 3);
    metrics.batch100_p50_vs_bare_packed = round(Number(metrics.reader_batch100_p50_us) / Number(metrics.bare_packed_batch100_p50_us), 3);
    metrics.batch100_p50_vs_bare_mget = round(Number(metrics.reader_batch100_p50_us) / Number(metrics.bare_mget_batch100_p50_us), 3);
    const hit = await cacheHitNs(cached);
    metrics.cache_hit_ns = hit.wall;
    metrics.cache_hit_cpu_ns = hit.cpu;
    metrics.load_avg_1m_end = round(loadavg()[0]!, 2);
    await feastBesideReader({ registry, reader, ids, metrics, table });
    await reader.close();
    await cached.close();
    return { metrics, table };
  } finally {
    if (redis.status === 'ready') await redis.unlink(...vectorKeys, ...fieldVectorKeys);
    redis.disconnect();
  }
}

/**
 * Median over rounds of the mean awaited get() time for an entity already in
 * the cache: wall clock, and this process's CPU time (which other load on the
 * machine inflates far less).
 */
async function cacheHitNs(reader: ReturnType<typeof createFeatureReader>): Promise<{ wall: number; cpu: number }> {
  await reader.get('user', 'u1');
  const wall: number[] = [];
  const cpu: number[] = [];
  const calls = 2_000;
  for (let r = 0; r < 30; r++) {
    const cpuStart = process.cpuUsage();
    const started = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) await reader.get('user', 'u1');
    wall.push(Number(process.hrtime.bigint() - started) / calls);
    const used = process.cpuUsage(cpuStart);
    cpu.push(((used.user + used.system) * 1_000) / calls);
  }
  const median = (xs: number[]) => Math.round(percentile(xs.sort((a, b) => a - b), 50));
  return { wall: median(wall), cpu: median(cpu) };
}

/** The `user` values every seeded entity holds; `count` (tx_count_1h) can be varied to change them. */
export function sampleVector(count = 14): Record<string, FeatureValue> {
  return {
    tx_count_1h: count,
    tx_sum_1h: 892.5,
    tx_count_24h: 61,
    tx_sum_24h: 3120.75,
    avg_tx_90d: 63.4,
    distinct_merchants_7d: 8,
    recent_merchants: ['m1', 'm2', 'm3', 'm4', 'm5'],
    credit_score_bucket: 3,
    is_premium: 1,
    created_at: Date.now() - 547 * 86_400_000,
    last_login_ts: Math.floor(Date.now() / 1000) - 600,
  };
}

/** The content of one `user` vector key in `layout`, as the worker writes it (stores/stored-vector.ts queueVectorWrite writes it). */
export function vectorFields(registry: Registry, layout: VectorLayout): (values: Record<string, FeatureValue>, version: number, updatedMs: number) => Buffer | Record<string, string | Buffer> {
  const group = registry.groupsOf('user').find((g) => g.name === 'features')!;
  const codec = new GroupCodec(group.features.map((n) => registry.feature(n)!));
  return (values, version, updatedMs) => codec.content(layout, values, version, updatedMs);
}

/** The default registry's vector for every entity, in `layout`, as the worker writes it. */
export async function seed(redis: Redis, registry: Registry, layout: VectorLayout, vectorKeys: string[]): Promise<void> {
  const fields = vectorFields(registry, layout);
  const sample = sampleVector();
  const pipeline = redis.pipeline();
  for (const key of vectorKeys) {
    queueVectorWrite(pipeline, key, fields(sample, 1, Date.now()));
    pipeline.pexpire(key, 600_000);
  }
  await pipeline.exec();
}
