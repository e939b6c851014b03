/**
 * Feast's Python SDK beside the reader bench, in the same run, on the same
 * Redis, entities and values: the reader's own vectors are written into a
 * throwaway Feast repo (bench/feast/repo.ts), then
 * `get_online_features(...).to_dict()` is timed inside Python at the reader's
 * batch sizes, in rounds alternating with the reader's getMany (timed again
 * here: `reader_beside_feast`). Adds `feast_batch<n>_p50_us`/`_p99_us`, the
 * reader's figures of the same rounds, `batch100_p50_vs_feast` (reader ÷ Feast,
 * both from those rounds) and table rows; if Feast cannot be had, `feast` says why and
 * the reader's figures stand alone.
 */
import { loadavg } from 'node:os';
import { loadEnvConfig } from '../../src/config.ts';
import type { Registry } from '../../src/schemas/registry.ts';
import type { FeatureReader } from '../../src/serving/reader.ts';
import { createFeastRepo, type FeastRepo } from './repo.ts';
import { FEAST_VERSION, ensureFeast } from './venv.ts';

const BATCHES = [1, 10, 100, 500] as const;
const ENTITY = 'user';
const ROUNDS = 10;

function iterationsFor(batch: number): number {
  return batch >= 500 ? 150 : batch >= 100 ? 300 : 600;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (n: number, digits = 1) => Number(n.toFixed(digits));

export interface ReaderBench {
  registry: Registry;
  reader: FeatureReader;
  ids: readonly string[];
  metrics: Record<string, number | string>;
  table: Array<Record<string, string | number>>;
}

export async function feastBesideReader(bench: ReaderBench): Promise<void> {
  const { metrics, table } = bench;
  const install = ensureFeast();
  if (!install.ok) {
    metrics.feast = `unavailable: ${install.reason}`;
    return;
  }
  let repo: FeastRepo | undefined;
  try {
    const vectors = await bench.reader.getMany(ENTITY, [...bench.ids]);
    const rows = new Map(vectors.map((v) => [v.entityId, v.features]));
    repo = await createFeastRepo({ python: install.python, redisUrl: loadEnvConfig().REDIS_URL, registry: bench.registry, entity: ENTITY, rows });
    metrics.feast_same_values = await sameValues(repo, bench.ids.slice(0, 100), rows);
    for (const batch of BATCHES) {
      const iterations = iterationsFor(batch);
      const { feast, reader } = await interleaved(repo, bench, batch, iterations);
      for (const [mode, samples] of [
        ['feast', feast],
        ['reader_beside_feast', reader],
      ] as const) {
        const sorted = samples.sort((a, b) => a - b);
        const p50 = percentile(sorted, 50);
        const p99 = percentile(sorted, 99);
        metrics[`${mode}_batch${batch}_p50_us`] = round(p50);
        metrics[`${mode}_batch${batch}_p99_us`] = round(p99);
        table.push({ batch, mode, p50_us: round(p50), p99_us: round(p99), iterations });
      }
    }
    // Reader and Feast timed in alternating rounds, so drift in the machine's load hits both alike.
    metrics.batch100_p50_vs_feast = round(Number(metrics.reader_beside_feast_batch100_p50_us) / Number(metrics.feast_batch100_p50_us), 3);
    metrics.feast = `feast ${FEAST_VERSION}: Python SDK get_online_features().to_dict(), timed in Python, same Redis and rows`;
    metrics.feast_load_avg_1m_end = round(loadavg()[0]!, 2);
  } catch (err) {
    metrics.feast = `unavailable: ${(err as Error).message}`;
  } finally {
    await repo?.close();
  }
}

/**
 * `iterations` calls each of Feast (timed in Python) and the reader (timed
 * here), in ROUNDS alternating rounds, after a warm-up round of each.
 */
async function interleaved(repo: FeastRepo, bench: ReaderBench, batch: number, iterations: number): Promise<{ feast: number[]; reader: number[] }> {
  const ids = bench.ids.slice(0, batch);
  const perRound = Math.ceil(iterations / ROUNDS);
  const feast: number[] = [];
  const reader: number[] = [];
  for (let pass = -1; pass < ROUNDS; pass++) {
    const { samples_us } = await repo.driver.request<{ samples_us: number[] }>('time', { batch, iterations: perRound, warmup: 0, ids });
    const own: number[] = [];
    for (let i = 0; i < perRound; i++) {
      const started = performance.now();
      await bench.reader.getMany(ENTITY, ids);
      own.push((performance.now() - started) * 1_000);
    }
    if (pass >= 0) {
      feast.push(...samples_us);
      reader.push(...own);
    }
  }
  return { feast, reader };
}

/** `yes`, or the first id and feature whose value Feast serves differently from the reader. */
async function sameValues(repo: FeastRepo, ids: readonly string[], expected: ReadonlyMap<string, Readonly<Record<string, unknown>>>): Promise<string> {
  const { rows } = await repo.driver.request<{ rows: Array<Record<string, unknown>> }>('check', { ids });
  for (const [i, id] of ids.entries()) {
    for (const [name, value] of Object.entries(rows[i]!)) {
      const want = expected.get(id)?.[name];
      const wanted = JSON.stringify(want instanceof Float32Array ? Array.from(want) : want);
      if (JSON.stringify(value) !== wanted) return `no: ${id}.${name} is ${JSON.stringify(value)} in Feast, ${wanted} in the reader`;
    }
  }
  return 'yes';
}
