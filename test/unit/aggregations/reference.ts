/**
 * Brute-force model of the engine's documented rules: keeps every accepted
 * event and recomputes each feature from scratch. Slow and obviously right.
 */
import type { NormalizedEvent } from '../../../src/schemas/events.ts';
import type { FeatureValue, Registry, ResolvedFeature } from '../../../src/schemas/registry.ts';

export interface ReferenceOptions {
  maxFutureSkewMs: number;
  dedupHorizonMs: number;
}

export class ReferenceModel {
  private readonly accepted: NormalizedEvent[] = [];
  /** `source id` -> arrival of the copy that counted. */
  private readonly counted = new Map<string, number>();
  /** Latest arrival so far. */
  private clock = -Infinity;

  constructor(
    private readonly registry: Registry,
    private readonly entity: string,
    private readonly o: ReferenceOptions,
  ) {}

  /**
   * 'future' where the engine must throw EVENT_IN_FUTURE. Arrival is the
   * event's arrivalMs, else now; a re-sent (source, id) is a duplicate while
   * the copy that counted arrived less than the horizon before the latest
   * arrival so far.
   */
  apply(e: NormalizedEvent, now: number): 'future' | 'duplicate' | 'accepted' {
    const arrival = e.arrivalMs ?? now;
    if (e.eventTimeMs > arrival + this.o.maxFutureSkewMs) return 'future';
    this.clock = Math.max(this.clock, arrival);
    if (e.eventId !== undefined) {
      const key = JSON.stringify([e.source, e.eventId]);
      const first = this.counted.get(key);
      if (first !== undefined && this.clock - first < this.o.dedupHorizonMs) return 'duplicate';
      this.counted.set(key, arrival);
    }
    this.accepted.push(e);
    return 'accepted';
  }

  evaluate(now: number): { values: Record<string, FeatureValue>; lapsed: string[] } {
    const values: Record<string, FeatureValue> = {};
    const lapsed: string[] = [];
    for (const f of this.registry.featuresOf(this.entity)) {
      const v = this.feature(f, now);
      if (v === undefined) lapsed.push(f.name);
      else values[f.name] = v;
    }
    return { values, lapsed };
  }

  private feature(f: ResolvedFeature, now: number): FeatureValue | undefined {
    const events = this.accepted.filter((e) => e.source === f.source);
    const raw = (e: NormalizedEvent) => (f.field === undefined ? undefined : e.fields[f.field]);
    const fresh = (ts: number[]) => ts.length > 0 && Math.max(...ts) + f.ttlMs > now;
    switch (f.op) {
      case 'count':
      case 'sum':
      case 'avg':
      case 'min':
      case 'max': {
        const valid = f.field === undefined ? events : events.filter((e) => Number.isFinite(raw(e)));
        if (!fresh(valid.map((e) => e.eventTimeMs))) return undefined;
        const xs = inWindow(valid, f, now).map((e) => (f.field === undefined ? 0 : (raw(e) as number)));
        if (f.op === 'count') return xs.length;
        if (f.op === 'sum') return exactSum(xs);
        if (xs.length === 0) return f.default;
        if (f.op === 'avg') return exactSum(xs) / xs.length;
        return (f.op === 'min' ? Math.min : Math.max)(...xs) + 0;
      }
      case 'distinct_count': {
        const valid = events.filter((e) => keyOf(raw(e)) !== undefined);
        if (!fresh(valid.map((e) => e.eventTimeMs))) return undefined;
        return new Set(inWindow(valid, f, now).map((e) => keyOf(raw(e)))).size;
      }
      case 'last_k': {
        const latest = new Map<string, number>();
        for (const e of events) {
          const k = keyOf(raw(e));
          if (k !== undefined && e.eventTimeMs + f.ttlMs > now) latest.set(k, Math.max(latest.get(k) ?? -Infinity, e.eventTimeMs));
        }
        const list = [...latest].sort(([v1, t1], [v2, t2]) => t2 - t1 || (v1 < v2 ? 1 : -1)).slice(0, f.k);
        return list.length === 0 ? undefined : list.map(([v]) => v);
      }
      case 'last_time': {
        const ts = events.map((e) => e.eventTimeMs);
        return fresh(ts) ? Math.floor(Math.max(...ts) / 1000) : undefined;
      }
      case 'last': {
        let best: { t: number; v: number | string | Float32Array } | undefined;
        for (const e of events) {
          const v = lastValue(f, raw(e));
          if (v === undefined) continue;
          if (!best || e.eventTimeMs > best.t || (e.eventTimeMs === best.t && compare(v, best.v) > 0)) best = { t: e.eventTimeMs, v };
        }
        return best && best.t + f.ttlMs > now ? best.v : undefined;
      }
    }
  }
}

/** At tile edges the true [now - W, now); between them the documented [tileStart(now) + T - W, tileStart(now) + T). */
function inWindow(events: NormalizedEvent[], f: ResolvedFeature, now: number): NormalizedEvent[] {
  const T = f.tileMs!;
  const end = now % T === 0 ? now : (Math.floor((now - 1) / T) + 1) * T;
  return events.filter((e) => e.eventTimeMs >= end - f.windowMs! && e.eventTimeMs < end);
}

function keyOf(raw: unknown): string | undefined {
  if (typeof raw === 'string') return raw === '' || raw.includes('\x1f') ? undefined : raw;
  return typeof raw === 'number' && Number.isFinite(raw) ? String(raw) : undefined;
}

/** Exact decimal sum via BigInt when every value has <= 6 decimals; otherwise a float sum. */
function exactSum(xs: number[]): number {
  const parts = xs.map((x) => /^(-?)(\d+)(?:\.(\d{1,6}))?$/.exec(String(x)));
  if (parts.some((p) => p === null)) return xs.reduce((a, b) => a + b, 0);
  const scale = Math.max(0, ...parts.map((p) => p![3]?.length ?? 0));
  let total = 0n;
  for (const p of parts) {
    const units = BigInt(p![2]! + (p![3] ?? '').padEnd(scale, '0'));
    total += p![1] ? -units : units;
  }
  return Number(total) / 10 ** scale + 0;
}

function lastValue(f: ResolvedFeature, raw: unknown): number | string | Float32Array | undefined {
  if (f.type === 'int') return typeof raw === 'boolean' ? Number(raw) : Number.isSafeInteger(raw) ? (raw as number) + 0 : undefined;
  if (f.type === 'float') return Number.isFinite(raw) ? (raw as number) + 0 : undefined;
  if (f.type === 'string') return typeof raw === 'string' ? raw : undefined;
  if (!Array.isArray(raw) || raw.length !== f.dim) return undefined;
  const v = Float32Array.from(raw as number[]);
  return v.every(Number.isFinite) ? v : undefined;
}

function compare(a: number | string | Float32Array, b: number | string | Float32Array): number {
  if (typeof a === 'number') return a - (b as number);
  if (typeof a === 'string') return a === b ? 0 : a < (b as string) ? -1 : 1;
  const bv = b as Float32Array;
  const i = a.findIndex((x, j) => x !== bv[j]);
  return i < 0 ? 0 : a[i]! - bv[i]!;
}
