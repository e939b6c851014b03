/**
 * bench/results/SUMMARY.md: one table of the headline figures of every benchmark, each beside
 * the baseline measured in the same run, with the goal from the issue that asked for it.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface Row {
  bench: string;
  figure: string;
  metric: string;
  baseline?: string;
  goal: string;
}

const ROWS: Row[] = [
  { bench: 'aggregations', figure: 'engine events/s (1 core)', metric: 'events_per_sec', baseline: 'baseline_events_per_sec', goal: '>= 1,000,000' },
  { bench: 'aggregations', figure: 'state bytes, median', metric: 'state_bytes_median', goal: '<= 1,024' },
  { bench: 'aggregations', figure: 'state bytes, p99', metric: 'state_bytes_p99', goal: '' },
  { bench: 'aggregations', figure: 'mixed registry events/s (filters, stddev, lifetime, approx_distinct, pair entity)', metric: 'mixed_events_per_sec', baseline: 'baseline_events_per_sec', goal: '' },
  { bench: 'worker', figure: 'worker events/s (4 partitions)', metric: 'events_per_sec_4p', baseline: 'raw_consume_events_per_sec', goal: '>= 50,000; ratio >= 0.5' },
  { bench: 'worker', figure: 'worker events/s (1 partition)', metric: 'events_per_sec_1p', goal: '' },
  { bench: 'worker', figure: 'freshness p99 ms at 5,000 events/s', metric: 'freshness_ms_p99', goal: '<= 250' },
  { bench: 'worker', figure: 'freshness p99 ms at 10,000 events/s', metric: 'freshness_ms_p99_at_10k', goal: '<= 100' },
  { bench: 'worker', figure: 'CLI worker --processes 2 events/s (4 partitions)', metric: 'events_per_sec_4p_cli_processes_2', baseline: 'events_per_sec_4p_cli_processes_1', goal: '' },
  { bench: 'worker', figure: '3-master Cluster + WAIT events/s (4 partitions)', metric: 'events_per_sec_4p_cluster', baseline: 'events_per_sec_4p', goal: 'ratio >= 0.75' },
  { bench: 'reader', figure: 'reader batch 100 p50 us', metric: 'reader_batch100_p50_us', baseline: 'bare_batch100_p50_us', goal: '<= 0.4 x bare' },
  { bench: 'reader', figure: 'bare MGET of the packed strings (no decoding) us', metric: 'bare_mget_batch100_p50_us', baseline: 'bare_batch100_p50_us', goal: '' },
  { bench: 'reader', figure: 'reader batch 100 p50 us vs the bare MGET under it', metric: 'reader_batch100_p50_us', baseline: 'bare_mget_batch100_p50_us', goal: '' },
  { bench: 'reader', figure: 'reader batch 100 p50 us vs sequential', metric: 'reader_batch100_p50_us', baseline: 'sequential_batch100_p50_us', goal: '<= 0.25 x sequential' },
  { bench: 'reader', figure: 'cache hit ns', metric: 'cache_hit_ns', goal: '<= 1,000' },
  { bench: 'reader', figure: 'reader batch 100 p50 us vs Feast SDK (alternating rounds)', metric: 'reader_beside_feast_batch100_p50_us', baseline: 'feast_batch100_p50_us', goal: '<= 0.1 x Feast' },
  { bench: 'reader', figure: 'Feast SDK batch 100 p99 us', metric: 'feast_batch100_p99_us', goal: '' },
  { bench: 'http', figure: 'featurestream serve p99 ms, 1,000 req/s, batch 100', metric: 'featurestream_at1000_p99_ms', baseline: 'feast_at1000_p99_ms', goal: '<= 5 ms; <= 0.333 x Feast' },
  { bench: 'http', figure: 'featurestream serve achieved req/s at 1,000 req/s', metric: 'featurestream_at1000_achieved_rps', baseline: 'feast_at1000_achieved_rps', goal: '1,000' },
  { bench: 'http', figure: 'featurestream serve p99 ms vs the floor (node:http answering the same bytes from memory), 1,000 req/s', metric: 'featurestream_at1000_p99_ms', baseline: 'node_static_at1000_p99_ms', goal: '' },
  { bench: 'http', figure: 'featurestream serve event loop late, p99 ms over the 1,000 req/s run', metric: 'featurestream_at1000_server_loop_late_p99_ms', goal: '' },
  { bench: 'http', figure: 'featurestream serve --processes 2 p99 ms, 1,000 req/s, batch 100', metric: 'featurestream_2p_at1000_p99_ms', baseline: 'feast_at1000_p99_ms', goal: '<= 5 ms; <= 0.333 x Feast' },
  { bench: 'http', figure: 'featurestream serve --processes 2 achieved req/s at 1,000 req/s', metric: 'featurestream_2p_at1000_achieved_rps', baseline: 'feast_at1000_achieved_rps', goal: '1,000' },
  { bench: 'http', figure: 'featurestream serve --no-decode-memo p99 ms, 1,000 req/s, batch 100', metric: 'featurestream_nomemo_at1000_p99_ms', baseline: 'featurestream_at1000_p99_ms', goal: '' },
  { bench: 'http', figure: 'featurestream serve --no-decode-memo capacity req/s, batch 100', metric: 'featurestream_nomemo_capacity_rps', baseline: 'featurestream_capacity_rps', goal: '' },
  { bench: 'http', figure: 'featurestream serve p99 ms, 1,000 req/s, vectors rewritten meanwhile (changing)', metric: 'featurestream_changing_at1000_p99_ms', baseline: 'featurestream_at1000_p99_ms', goal: '' },
  { bench: 'http', figure: 'featurestream serve CPU us per request at 1,000 req/s', metric: 'featurestream_at1000_server_cpu_us_per_req', goal: '' },
  { bench: 'http', figure: 'featurestream serve CPU us per request at 1,000 req/s, vectors rewritten meanwhile', metric: 'featurestream_changing_at1000_server_cpu_us_per_req', baseline: 'featurestream_at1000_server_cpu_us_per_req', goal: '' },
  { bench: 'http', figure: 'featurestream serve p99 ms at the lower rate (low_rate)', metric: 'featurestream_atlow_p99_ms', baseline: 'feast_atlow_p99_ms', goal: '<= 0.333 x Feast' },
  { bench: 'http', figure: 'featurestream serve p99 ms at half its capacity (half_capacity_rate)', metric: 'featurestream_athalf_p99_ms', goal: '' },
  { bench: 'http', figure: 'featurestream serve capacity req/s, batch 100', metric: 'featurestream_capacity_rps', baseline: 'feast_capacity_rps', goal: '' },
  { bench: 'sync', figure: 'DynamoDB sync items/s (conditional PutItem)', metric: 'items_per_sec', baseline: 'baseline_batchwrite_items_per_sec', goal: '' },
  { bench: 'sync', figure: 'sync lag p99 ms at a steady rate', metric: 'lag_ms_p99', goal: '' },
  { bench: 'backfill', figure: 'backfill replay events/s', metric: 'events_per_sec', baseline: 'raw_consume_events_per_sec', goal: '' },
];

const fmt = (v: unknown) => (typeof v === 'number' ? v.toLocaleString('en-US', { maximumFractionDigits: 3 }) : String(v ?? 'n/a'));

export function writeSummary(resultsDir: string): string {
  const results = new Map<string, { date: string; metrics: Record<string, number | string> }>();
  for (const bench of new Set(ROWS.map((r) => r.bench))) {
    const file = join(resultsDir, `${bench}.json`);
    if (existsSync(file)) results.set(bench, JSON.parse(readFileSync(file, 'utf8')));
  }
  const lines = [
    '# Benchmark summary',
    '',
    'Written by `npm run bench` from `bench/results/*.json`. Each baseline ran in the same process run as its figure.',
    '',
    '| benchmark | figure | value | baseline | value / baseline | goal | measured |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const row of ROWS) {
    const r = results.get(row.bench);
    if (!r) continue;
    const value = r.metrics[row.metric];
    const base = row.baseline ? r.metrics[row.baseline] : undefined;
    const ratio = typeof value === 'number' && typeof base === 'number' && base !== 0 ? (value / base).toFixed(3) : '';
    const baseText = row.baseline ? `${fmt(base)} (${row.baseline})` : '';
    lines.push(`| ${row.bench} | ${row.figure} | ${fmt(value)} | ${baseText} | ${ratio} | ${row.goal} | ${r.date.slice(0, 16)} |`);
  }
  const text = `${lines.join('\n')}\n`;
  writeFileSync(join(resultsDir, 'SUMMARY.md'), text);
  return text;
}
