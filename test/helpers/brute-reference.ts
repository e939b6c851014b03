/**
 * An independent reference for worker tests: the expected feature values,
 * computed by brute force from the raw Kafka messages and the README's window
 * rule. It imports nothing from src/aggregations: it keeps every accepted
 * event and recomputes each feature from scratch at `nowMs`.
 *
 * Semantics modelled (the worker's): messages are taken in topic, partition,
 * offset order, each once; a message that does not decode is dead-lettered
 * (skipped); so is an event more than maxFutureSkewMs ahead of its record
 * timestamp. Per entity and source, the arrival clock is the latest record
 * timestamp so far; an event whose (source, event_id) counted at an arrival
 * less than dedupHorizonMs before that clock is a duplicate (skipped).
 * Lifetime features take each record's timestamp as its apply time: exact as
 * long as no lifetime feature lapses while the worker lags.
 */
import { InvalidEventError } from '../../src/errors.ts';
import { decodeEvent, type NormalizedEvent } from '../../src/schemas/events.ts';
import type { FeatureValue, Registry, RequestContext, ResolvedFeature } from '../../src/schemas/registry.ts';
import { encodeFeatureValue } from '../../src/stores/codec.ts';

export interface RawMessage {
  topic: string;
  partition: number;
  offset: number;
  /** The Kafka record timestamp, epoch ms. */
  timestamp: number;
  value: Buffer | string | null;
}

export interface BruteOptions {
  maxFutureSkewMs: number;
  dedupHorizonMs: number;
}

/** Entity id -> feature name -> value; undefined = lapsed or never set (the hash field is absent). */
export type BruteVectors = Map<string, Record<string, FeatureValue | undefined>>;

interface EntityEvents {
  entity: string;
  events: NormalizedEvent[];
  /** Record timestamps of `events`: the apply times lifetime features assume. */
  appliedAt: number[];
  /** Source -> latest record timestamp. */
  clocks: Map<string, number>;
  /** Source and event id -> timestamp of the copy that counted. */
  counted: Map<string, number>;
}

function accept(e: EntityEvents, event: NormalizedEvent, arrival: number, o: BruteOptions): void {
  const clock = Math.max(e.clocks.get(event.source) ?? -Infinity, arrival);
  e.clocks.set(event.source, clock);
  if (event.eventId !== undefined) {
    const key = JSON.stringify([event.source, event.eventId]);
    const first = e.counted.get(key);
    if (first !== undefined && clock - first < o.dedupHorizonMs) return;
    e.counted.set(key, arrival);
  }
  e.events.push(event);
  e.appliedAt.push(arrival);
}

/** The expected vectors at `nowMs` of every entity that received at least one valid event (ids of all entity types in one map). */
export function bruteForceVectors(registry: Registry, messages: readonly RawMessage[], nowMs: number, o: BruteOptions): BruteVectors {
  const out: BruteVectors = new Map();
  for (const vectors of bruteForceEntities(registry, messages, nowMs, o).values()) {
    for (const [id, values] of vectors) out.set(id, { ...out.get(id), ...values });
  }
  return out;
}

/** bruteForceVectors by entity type: entity type -> id -> feature -> value. */
export function bruteForceEntities(registry: Registry, messages: readonly RawMessage[], nowMs: number, o: BruteOptions): Map<string, BruteVectors> {
  const ordered = [...messages].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition || a.offset - b.offset));
  const entities = new Map<string, EntityEvents>();
  let previous: RawMessage | undefined;
  for (const m of ordered) {
    if (previous && previous.topic === m.topic && previous.partition === m.partition && previous.offset === m.offset) continue;
    previous = m;
    // One topic may feed several sources (and entity types): each decodes the message on its own.
    for (const source of registry.sourcesByTopic(m.topic)) {
      let event: NormalizedEvent;
      try {
        event = decodeEvent(source, m.value);
      } catch (err) {
        if (err instanceof InvalidEventError) continue;
        throw err;
      }
      if (event.eventTimeMs > m.timestamp + o.maxFutureSkewMs) continue;
      const key = `${source.entity}\0${event.entityId}`;
      let e = entities.get(key);
      if (e === undefined) entities.set(key, (e = { entity: source.entity, events: [], appliedAt: [], clocks: new Map(), counted: new Map() }));
      accept(e, event, m.timestamp, o);
    }
  }
  const out = new Map<string, BruteVectors>();
  for (const [key, e] of entities) {
    const id = key.slice(e.entity.length + 1);
    const record: Record<string, FeatureValue | undefined> = {};
    for (const f of registry.featuresOf(e.entity)) record[f.name] = bruteFeature(f, e.events, nowMs, e.appliedAt);
    let vectors = out.get(e.entity);
    if (vectors === undefined) out.set(e.entity, (vectors = new Map()));
    vectors.set(id, record);
  }
  return out;
}

/**
 * What the reader serves for one entity, by the README's rules: a lapsed or
 * never-set stored feature is its default; then the on-demand features of
 * the entity: a ratio is the default when the denominator is 0, a difference
 * and a zscore when an input is not a number (the zscore also when the
 * stddev is 0), a compute function's value the default when it throws or is
 * not finite; `int` results are truncated. Calendar and time_since kinds are
 * not modelled here.
 */
export function bruteServed(
  registry: Registry,
  entity: string,
  stored: Readonly<Record<string, FeatureValue | undefined>>,
  context: RequestContext = {},
): Record<string, FeatureValue> {
  const out: Record<string, FeatureValue> = {};
  for (const f of registry.featuresOf(entity)) out[f.name] = stored[f.name] ?? f.default;
  const values = Object.freeze({ ...out });
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  for (const o of registry.onDemand) {
    if (o.entity !== entity) continue;
    let v: number | undefined;
    switch (o.kind) {
      case 'ratio': {
        const [a, b] = [n(values[o.numerator!]), n(values[o.denominator!])];
        v = a === undefined || b === undefined || b === 0 ? undefined : a / b;
        break;
      }
      case 'difference': {
        const [a, b] = [n(values[o.left!]), n(values[o.right!])];
        v = a === undefined || b === undefined ? undefined : a - b;
        break;
      }
      case 'zscore': {
        const x = n(o.input === undefined ? context[o.contextField!] : values[o.input]);
        const [mean, sd] = [n(values[o.mean!]), n(values[o.stddev!])];
        v = x === undefined || mean === undefined || sd === undefined || sd === 0 ? undefined : (x - mean) / sd;
        break;
      }
      case 'compute': {
        try {
          v = n(o.compute!(values, context));
        } catch {
          v = undefined;
        }
        break;
      }
      default:
        throw new Error(`bruteServed does not model on-demand kind ${o.kind}`);
    }
    out[o.name] = v === undefined ? o.default : o.type === 'int' ? Math.trunc(v) : v;
  }
  return out;
}

/**
 * A stored feature's value at `now` over one entity's accepted events, or
 * undefined when lapsed. Windowed and latest ops ignore the order; lifetime
 * ops (and first, first_k) need the events in apply order with the time each
 * was applied (`appliedAt`, parallel to `all`).
 */
export function bruteFeature(f: ResolvedFeature, all: readonly NormalizedEvent[], now: number, appliedAt?: readonly number[]): FeatureValue | undefined {
  if (f.lifetime) return bruteLifetime(f, all, appliedAt ?? all.map((e) => e.eventTimeMs), now);
  const events = all.filter((e) => e.source === f.source && matches(f, e.fields));
  const raw = (e: NormalizedEvent) => (f.field === undefined ? undefined : e.fields[f.field]);
  const fresh = (ts: number[]) => ts.length > 0 && Math.max(...ts) + f.ttlMs > now;
  switch (f.op) {
    case 'count':
    case 'sum':
    case 'avg':
    case 'min':
    case 'max':
    case 'stddev':
    case 'variance': {
      const valid = f.field === undefined ? events : events.filter((e) => Number.isFinite(raw(e)));
      if (!fresh(valid.map((e) => e.eventTimeMs))) return undefined;
      const xs = inWindow(valid, f, now).map((e) => (f.field === undefined ? 0 : (raw(e) as number)));
      if (f.op === 'count') return xs.length;
      if (f.op === 'sum') return exactSum(xs);
      if (xs.length === 0) return f.default;
      if (f.op === 'avg') return exactSum(xs) / xs.length;
      if (f.op === 'stddev' || f.op === 'variance') {
        // Two passes, in exact decimal where possible: the population variance by its definition.
        const mean = exactSum(xs) / xs.length;
        const variance = xs.reduce((acc, x) => acc + (x - mean) ** 2, 0) / xs.length;
        return f.op === 'variance' ? variance : Math.sqrt(variance);
      }
      return (f.op === 'min' ? Math.min : Math.max)(...xs) + 0;
    }
    // approx_distinct exactly here: the engine's sketch is exact up to 128 values and within 2% beyond.
    case 'distinct_count':
    case 'approx_distinct': {
      const valid = events.filter((e) => keyOf(raw(e)) !== undefined);
      if (!fresh(valid.map((e) => e.eventTimeMs))) return undefined;
      return new Set(inWindow(valid, f, now).map((e) => keyOf(raw(e)))).size;
    }
    case 'approx_quantile': {
      // The exact value of rank floor(q * (n - 1)); the engine's sketch answers within 1% of it.
      const valid = events.filter((e) => Number.isFinite(raw(e)));
      if (!fresh(valid.map((e) => e.eventTimeMs))) return undefined;
      const xs = inWindow(valid, f, now)
        .map((e) => raw(e) as number)
        .sort((a, b) => a - b);
      return xs.length === 0 ? f.default : xs[Math.floor(f.q! * (xs.length - 1))]! + 0;
    }
    case 'top_k': {
      const valid = events.filter((e) => keyOf(raw(e)) !== undefined);
      if (!fresh(valid.map((e) => e.eventTimeMs))) return undefined;
      const counts = new Map<string, number>();
      for (const e of inWindow(valid, f, now)) counts.set(keyOf(raw(e))!, (counts.get(keyOf(raw(e))!) ?? 0) + 1);
      return [...counts].sort(([v1, n1], [v2, n2]) => n2 - n1 || (v1 < v2 ? -1 : 1)).slice(0, f.k).map(([v]) => v);
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

/**
 * The README's lifetime rule, literally: a lifetime feature aggregates every
 * event since it was last fresh. An event applied while the feature has
 * lapsed (no event for its TTL) starts it afresh, if the event itself is
 * within the TTL; otherwise it is ignored.
 */
function bruteLifetime(f: ResolvedFeature, all: readonly NormalizedEvent[], appliedAt: readonly number[], now: number): FeatureValue | undefined {
  const raw = (e: NormalizedEvent) => (f.field === undefined ? undefined : e.fields[f.field]);
  const valid = (e: NormalizedEvent) =>
    f.op === 'count'
      ? true
      : f.op === 'first'
        ? lastValue(f, raw(e)) !== undefined
        : f.op === 'first_k' || f.op === 'approx_distinct'
          ? keyOf(raw(e)) !== undefined
          : Number.isFinite(raw(e));
  let since: NormalizedEvent[] = [];
  all.forEach((e, i) => {
    if (e.source !== f.source || !matches(f, e.fields) || !valid(e)) return;
    const at = appliedAt[i]!;
    const fresh = since.length > 0 && Math.max(...since.map((x) => x.eventTimeMs)) + f.ttlMs > at;
    if (!fresh) {
      if (e.eventTimeMs + f.ttlMs <= at) return;
      since = [];
    }
    since.push(e);
  });
  if (since.length === 0 || Math.max(...since.map((x) => x.eventTimeMs)) + f.ttlMs <= now) return undefined;
  const xs = since.map((e) => raw(e));
  switch (f.op) {
    case 'count':
      return since.length;
    case 'sum':
      return exactSum(xs as number[]);
    case 'min':
      return Math.min(...(xs as number[])) + 0;
    case 'max':
      return Math.max(...(xs as number[])) + 0;
    case 'approx_distinct':
      return new Set(xs.map(keyOf)).size;
    case 'first': {
      const order = since.map((e) => ({ t: e.eventTimeMs, v: lastValue(f, raw(e))! })).sort((a, b) => a.t - b.t || compare(a.v, b.v));
      return order[0]!.v;
    }
    default: {
      const earliest = new Map<string, number>();
      for (const e of since) {
        const k = keyOf(raw(e))!;
        earliest.set(k, Math.min(earliest.get(k) ?? Infinity, e.eventTimeMs));
      }
      return [...earliest].sort(([v1, t1], [v2, t2]) => t1 - t2 || (v1 < v2 ? -1 : 1)).slice(0, f.k).map(([v]) => v);
    }
  }
}

/** The README's filter semantics: predicates ANDed; a comparison with an absent field is false, except exists: false. */
function matches(f: ResolvedFeature, fields: Record<string, unknown>): boolean {
  if (f.where === undefined) return true;
  if (typeof f.where === 'function') return f.where(fields) === true;
  const asDecoded = (v: string | number | boolean) => (typeof v === 'boolean' ? Number(v) : v);
  return f.where.every((p) => {
    const x = fields[p.field];
    const present = x !== undefined && x !== null;
    if (p.exists !== undefined && present !== p.exists) return false;
    if (p.eq !== undefined && x !== asDecoded(p.eq)) return false;
    if (p.ne !== undefined && (!present || x === asDecoded(p.ne))) return false;
    if (p.in !== undefined && !p.in.map(asDecoded).includes(x as string | number)) return false;
    const n = typeof x === 'number' ? x : undefined;
    if (p.gt !== undefined && !(n !== undefined && n > p.gt)) return false;
    if (p.gte !== undefined && !(n !== undefined && n >= p.gte)) return false;
    if (p.lt !== undefined && !(n !== undefined && n < p.lt)) return false;
    if (p.lte !== undefined && !(n !== undefined && n <= p.lte)) return false;
    return true;
  });
}

/** At tile edges the true [now - W, now); between them the documented [tileStart(now) + T - W, tileStart(now) + T). */
function inWindow(events: NormalizedEvent[], f: ResolvedFeature, now: number): NormalizedEvent[] {
  const T = f.tileMs!;
  const end = now % T === 0 ? now : (Math.floor((now - 1) / T) + 1) * T;
  return events.filter((e) => e.eventTimeMs >= end - f.windowMs! && e.eventTimeMs < end);
}

/** Values distinct counts and lists track: non-empty strings without \x1f, or finite numbers as strings. */
function keyOf(raw: unknown): string | undefined {
  if (typeof raw === 'string') return raw === '' || raw.includes('\x1f') ? undefined : raw;
  return typeof raw === 'number' && Number.isFinite(raw) ? String(raw) : undefined;
}

/** Exact decimal sum via BigInt when every value has <= 6 decimals; otherwise a float sum. */
function exactSum(xs: number[]): number {
  const parts = xs.map((x) => /^(-?)(\d+)(?:\.(\d{1,6}))?$/.exec(String(x)));
  if (parts.some((p) => p === null)) return xs.reduce((a, b) => a + b, 0) + 0;
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

/** Redis vectors as the worker tests read them: entity id -> group -> hash field -> value as a latin1 string. */
export type HashVectors = Map<string, Record<string, Record<string, string>>>;

/** The expected values in the Redis hash-field form (lapsed features absent), for `expect(actual).toEqual(...)`. */
export function toHashVectors(registry: Registry, expected: BruteVectors): HashVectors {
  const out: HashVectors = new Map();
  for (const [id, values] of expected) {
    const groups: Record<string, Record<string, string>> = {};
    for (const [name, value] of Object.entries(values)) {
      const f = registry.feature(name)!;
      groups[f.group] ??= {};
      if (value !== undefined) groups[f.group]![name] = Buffer.from(encodeFeatureValue(f, value)).toString('latin1');
    }
    out.set(id, groups);
  }
  return out;
}

/** Differences between the expected values and the Redis vectors of the same entities, one line each; [] = equal. */
export function diffVectors(registry: Registry, expected: BruteVectors, actual: HashVectors): string[] {
  const want = toHashVectors(registry, expected);
  const out: string[] = [];
  for (const [id, groups] of want) {
    for (const [group, fields] of Object.entries(groups)) {
      const got = actual.get(id)?.[group] ?? {};
      for (const name of new Set([...Object.keys(fields), ...Object.keys(got)])) {
        if (fields[name] !== got[name]) out.push(`${id} ${group}.${name}: expected ${JSON.stringify(fields[name])}, got ${JSON.stringify(got[name])}`);
      }
    }
  }
  return out;
}
