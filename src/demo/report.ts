import type { FeatureVector } from '../serving/types.ts';

/** Renders rows as an aligned text table for the terminal. */
export function table(rows: Array<Record<string, string>>): string {
  if (rows.length === 0) return '(no rows)';
  const cols = Object.keys(rows[0]!);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ');
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => r[c] ?? '')))].join('\n');
}

function show(value: unknown): string {
  if (Array.isArray(value)) return value.length > 3 ? `[${value.slice(0, 3).join(',')},…+${value.length - 3}]` : `[${value.join(',')}]`;
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(2);
  return String(value);
}

export function vectorRows(vectors: FeatureVector[], features: string[]): Array<Record<string, string>> {
  return vectors.map((v) => {
    const f = v.features as Record<string, unknown>;
    const row: Record<string, string> = {
      user: v.entityId,
      source: v.source,
      age: v.ageMs === undefined ? '-' : `${(v.ageMs / 1000).toFixed(1)}s`,
    };
    for (const name of features) row[name] = show(f[name]);
    return row;
  });
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `fn` `iterations` times and returns sorted durations in ms. */
export async function timeIt(iterations: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out.sort((a, b) => a - b);
}
