/**
 * Benchmark runner: `npm run bench` runs every bench/<name>.ts, `npm run bench -- <name>` one.
 * Each benchmark exports `default async function run(): Promise<BenchResult>` and runs
 * its own baseline in the same process, so results are ratios, not absolute claims.
 * Results go to bench/results/<name>.json and a table to stdout; bench/results/SUMMARY.md
 * collects the headline figures of all of them.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeSummary } from './summary.ts';

export interface BenchResult {
  metrics: Record<string, number | string>;
  table: Array<Record<string, string | number>>;
}

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(here, 'results');
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'summary.ts'].includes(f) && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();

function printTable(rows: Array<Record<string, string | number>>): void {
  if (rows.length === 0) return;
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : String(v ?? ''));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => `| ${vals.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(cols));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(cols.map((c) => cell(r[c]))));
}

async function runOne(name: string): Promise<void> {
  const mod = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as { default: () => Promise<BenchResult> };
  console.log(`\n## ${name}`);
  const started = Date.now();
  const result = await mod.default();
  const record = {
    name,
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? 'unknown', mem_gb: Math.round(totalmem() / 2 ** 30), node: process.version },
    duration_s: (Date.now() - started) / 1000,
    metrics: result.metrics,
    table: result.table,
  };
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `${name}.json`), `${JSON.stringify(record, null, 2)}\n`);
  printTable(result.table);
  printTable(Object.entries(result.metrics).map(([metric, value]) => ({ metric, value })));
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => a !== '--');
  const unknown = wanted.filter((w) => !available.includes(w));
  if (unknown.length) throw new Error(`unknown benchmark(s) ${unknown.join(', ')}; available: ${available.join(', ')}`);
  for (const name of wanted.length ? wanted : available) await runOne(name);
  console.log(`\n${writeSummary(resultsDir)}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
