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
 */
import { InvalidEventError } from '../../src/errors.ts';
import { decodeEvent, type NormalizedEvent } from '../../src/schemas/events.ts';
import type { FeatureValue, Registry, ResolvedFeature } from '../../src/schemas/registry.ts';
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
}

/** The expected vectors at `nowMs` of every entity that received at least one valid event. */
export function bruteForceVectors(registry: Registry, messages: readonly RawMessage[], nowMs: number, o: BruteOptions): BruteVectors {
  const ordered = [...messages].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition || a.offset - b.offset));
  const entities = new Map<string, EntityEvents>();
  let previous: RawMessage | undefined;
  for (const m of ordered) {
    if (previous && previous.topic === m.topic && previous.partition === m.partition && previous.offset === m.offset) continue;
    previous = m;
    const source = registry.sourceByTopic(m.topic);
    if (source === undefined) continue;
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
    if (e === undefined) entities.set(key, (e = { entity: source.entity, events: [], clocks: new Map(), counted: new Map() }));
    accept(e, event, m.timestamp, o);
  }
  const out: BruteVectors = new Map();
  for (const [key, e] of entities) {
    const id = key.slice(e.entity.length + 1);
    const record = out.get(id) ?? {};
    for (const f of registry.featuresOf(e.entity)) record[f.name] = bruteFeature(f, e.events, nowMs);
    out.set(id, record);
  }
  return out;
}

/** A stored feature's value at `now` over one entity's accepted events (any order), or undefined when lapsed. */
export function bruteFeature(f: ResolvedFeature, all: readonly NormalizedEvent[], now: number): FeatureValue | undefined {
  const events = all.filter((e) => e.source === f.source);
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
