/**
 * Brute force for approx_distinct, written from the README alone (nothing
 * from src/aggregations): the exact number of distinct values (strings, or
 * numbers as strings, as distinct_count counts them) among one entity's
 * accepted events in the window, or since the feature was last fresh for
 * `window: "lifetime"`. The engine must equal it for small counts and stay
 * within its error bound beyond.
 */
import type { NormalizedEvent } from '../../../src/schemas/events.ts';
import type { ResolvedFeature } from '../../../src/schemas/registry.ts';

function keyOf(raw: unknown): string | undefined {
  if (typeof raw === 'string') return raw === '' || raw.includes('\x1f') ? undefined : raw;
  return typeof raw === 'number' && Number.isFinite(raw) ? String(raw) : undefined;
}

/** The README window: [now - W, now) at tile edges, else the edge that follows now - 1 minus W. */
export function windowOf(f: ResolvedFeature, now: number): [from: number, to: number] {
  const T = f.tileMs!;
  const end = now % T === 0 ? now : (Math.floor((now - 1) / T) + 1) * T;
  return [end - f.windowMs!, end];
}

/**
 * The distinct values at `now`, or undefined when lapsed (no counted event
 * newer than now - TTL). `appliedAt[i]` is when all[i] was applied, which
 * decides lifetime restarts.
 */
export function exactValues(f: ResolvedFeature, all: readonly NormalizedEvent[], now: number, appliedAt: readonly number[]): Set<string> | undefined {
  const counted: { t: number; key: string; at: number }[] = [];
  all.forEach((e, i) => {
    const key = keyOf(e.fields[f.field!]);
    if (e.source === f.source && key !== undefined && (f.filter === undefined || f.filter(e.fields))) counted.push({ t: e.eventTimeMs, key, at: appliedAt[i]! });
  });
  if (!f.lifetime) {
    if (counted.length === 0 || counted.reduce((m, c) => Math.max(m, c.t), -Infinity) + f.ttlMs <= now) return undefined;
    const [from, to] = windowOf(f, now);
    return new Set(counted.filter((c) => c.t >= from && c.t < to).map((c) => c.key));
  }
  // Lifetime: everything since the feature was last fresh; a fresh event applied after a lapse restarts it, a stale one is ignored.
  let since: { t: number; key: string }[] = [];
  let newest = -Infinity;
  for (const c of counted) {
    const fresh = since.length > 0 && newest + f.ttlMs > c.at;
    if (!fresh) {
      if (c.t + f.ttlMs <= c.at) continue;
      since = [];
      newest = -Infinity;
    }
    since.push(c);
    newest = Math.max(newest, c.t);
  }
  if (since.length === 0 || newest + f.ttlMs <= now) return undefined;
  return new Set(since.map((c) => c.key));
}

export function exactDistinct(f: ResolvedFeature, all: readonly NormalizedEvent[], now: number, appliedAt: readonly number[]): number | undefined {
  return exactValues(f, all, now, appliedAt)?.size;
}
