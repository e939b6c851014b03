/** A registry exercising every operator at short windows, and random event streams for it. */
import fc from 'fast-check';
import { arrivalAt, dedupClock, dedupSize, hashAt } from '../../../src/aggregations/dedup.ts';
import { END, START, type SeriesBlock } from '../../../src/aggregations/series.ts';
import type { SeriesPlan } from '../../../src/aggregations/plan.ts';
import { dedupAt, type EntityState } from '../../../src/aggregations/state.ts';
import type { NormalizedEvent } from '../../../src/schemas/events.ts';
import { parseRegistry } from '../../../src/schemas/registry.ts';

export const testRegistry = parseRegistry({
  entities: [{ name: 'user' }],
  sources: [
    {
      name: 'tx',
      entity: 'user',
      keyField: 'user_id',
      timeField: 'ts',
      schema: { event_id: 'string?', user_id: 'string', amount: 'number', merchant: 'string', ts: 'time' },
    },
    {
      name: 'prof',
      entity: 'user',
      keyField: 'user_id',
      timeField: 'ts',
      schema: { event_id: 'string?', user_id: 'string', score: 'int?', label: 'string?', emb: 'vector?', ts: 'time' },
    },
  ],
  features: [
    { name: 'c10s', source: 'tx', op: 'count', window: '10s', type: 'int', default: 0 },
    { name: 'c1m', source: 'tx', op: 'count', window: '1m', tile: '5s', type: 'int', default: 0 },
    { name: 's1m', source: 'tx', op: 'sum', field: 'amount', window: '1m', tile: '5s', type: 'float', default: 0 },
    { name: 'a30s', source: 'tx', op: 'avg', field: 'amount', window: '30s', tile: '5s', type: 'float', default: -1 },
    { name: 'mn20s', source: 'tx', op: 'min', field: 'amount', window: '20s', tile: '1s', type: 'float', default: 0, freshness: '5s' },
    { name: 'mx2m', source: 'tx', op: 'max', field: 'amount', window: '2m', type: 'float', default: 0 },
    { name: 'd40s', source: 'tx', op: 'distinct_count', field: 'merchant', window: '40s', tile: '2s', type: 'int', default: 0 },
    { name: 'd10s', source: 'tx', op: 'distinct_count', field: 'merchant', window: '10s', tile: '2s', type: 'int', default: 0 },
    { name: 'ad40s', source: 'tx', op: 'approx_distinct', field: 'merchant', window: '40s', tile: '2s', type: 'int', default: 0 },
    { name: 'ad_amt1m', source: 'tx', op: 'approx_distinct', field: 'amount', window: '1m', tile: '5s', type: 'int', default: 0 },
    { name: 'ad_life', source: 'tx', op: 'approx_distinct', field: 'merchant', window: 'lifetime', type: 'int', default: 0, freshness: '15s' },
    { name: 'rk3', source: 'tx', op: 'last_k', field: 'merchant', k: 3, type: 'string_list', default: [], freshness: '15s' },
    { name: 'rk5', source: 'tx', op: 'last_k', field: 'merchant', k: 5, type: 'string_list', default: [], freshness: '40s' },
    { name: 'score', source: 'prof', op: 'last', field: 'score', type: 'int', default: 2, freshness: '20s' },
    { name: 'label', source: 'prof', op: 'last', field: 'label', type: 'string', default: null, freshness: '1m' },
    { name: 'emb', source: 'prof', op: 'last', field: 'emb', type: 'vector', dim: 2, default: null, freshness: '1m' },
    { name: 'seen', source: 'prof', op: 'last_time', type: 'int', default: 0, freshness: '10s' },
  ],
});

/** The sources of testRegistry as JSON field maps, for registries of their own. */
export const jsonSources = [
  { name: 'tx', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: { event_id: 'string?', user_id: 'string', amount: 'number', merchant: 'string', ts: 'time' } },
  { name: 'prof', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: { event_id: 'string?', user_id: 'string', score: 'int?', label: 'string?', emb: 'vector?', ts: 'time' } },
];

export const T0 = Date.UTC(2025, 0, 6);
export const SKEW_MS = 5_000;

export type After = 'none' | 'evaluate' | 'evict' | 'roundtrip';
/** One arrival: the event, the processing time, and what to do after applying it. */
export interface Step {
  event: NormalizedEvent;
  now: number;
  after: After;
}

const after = fc.constantFrom<After>('none', 'none', 'evaluate', 'evict', 'roundtrip');
const advance = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 1_500 }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 60_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 7_200_000 }) },
);
/** Arrival (the Kafka record timestamp) behind now by a little, out of order; or none (the engine falls back to now). */
const lag = fc.option(fc.integer({ min: 0, max: 3_000 }), { nil: undefined });
/** Event time relative to now: mostly recent, some late (beyond windows), a few ahead (some beyond the skew). */
const delta = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -20_000, max: 0 }) },
  { weight: 2, arbitrary: fc.integer({ min: -200_000, max: 0 }) },
  { weight: 1, arbitrary: fc.integer({ min: -3 * 86_400_000, max: -200_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 7_000 }) },
);
/** Half of the event times fall on a 250 ms grid: ties in event time and events on tile edges. */
const eventTime = (now: number, d: number, grid: boolean) => (grid ? Math.floor((now + d) / 250) * 250 : now + d);

const txFields = fc.record({
  amount: fc.oneof(fc.integer({ min: -5_000, max: 50_000 }).map((c) => c / 100), fc.constantFrom(0.1, 0.2, 0.3, 1e-6, 7)),
  merchant: fc.constantFrom('m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6'),
});
const profFields = fc.record(
  {
    score: fc.integer({ min: -3, max: 3 }),
    label: fc.constantFrom('a', 'b', 'c'),
    emb: fc.oneof(fc.constantFrom([0, 1], [1, 0], [0.5, 0.5], [1, 1]), fc.constant([1, 2, 3])),
  },
  { requiredKeys: [] },
);

const fresh = fc.record({
  kind: fc.constant('event' as const),
  source: fc.constantFrom('tx', 'tx', 'prof'),
  tx: txFields,
  prof: profFields,
  withId: fc.boolean(),
  delta,
  grid: fc.boolean(),
  advance,
  lag,
  after,
});
const rawStep = fc.oneof(
  { weight: 7, arbitrary: fresh },
  /** The same event again (same id and time), arriving later: a retry, a replayed batch, an offline queue re-sent. */
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('redeliver' as const), which: fc.nat(), advance, lag, after }) },
  /** Another event at the same time as an earlier one: ties in event time. */
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('sibling' as const), which: fc.nat(), event: fresh, advance, after }) },
);

/** Arrival order with non-decreasing processing times; event times are relative to them. */
export const streams = fc.array(rawStep, { minLength: 1, maxLength: 60 }).map((raw) => {
  let now = T0;
  const steps: Step[] = [];
  const arrival = (lagMs: number | undefined) => (lagMs === undefined ? {} : { arrivalMs: now - lagMs });
  raw.forEach((r, i) => {
    now += r.advance;
    const earlier = steps[(r.kind === 'event' ? 0 : r.which) % Math.max(1, steps.length)]?.event;
    if (r.kind === 'redeliver') {
      if (earlier) {
        const { arrivalMs: _, ...event } = earlier;
        steps.push({ event: { ...event, ...arrival(r.lag) }, now, after: r.after });
      }
      return;
    }
    const e = r.kind === 'event' ? r : r.event;
    const event: NormalizedEvent = {
      source: e.source,
      entityId: 'u1',
      eventTimeMs: r.kind === 'sibling' && earlier ? earlier.eventTimeMs : eventTime(now, e.delta, e.grid),
      fields: e.source === 'tx' ? { ...e.tx } : { ...e.prof },
      ...(e.withId ? { eventId: `e${i}` } : {}),
      ...arrival(e.lag),
    };
    steps.push({ event, now, after: r.after });
  });
  return steps;
}).filter((steps) => steps.length > 0);

/** The de-duplication memories of a state's first `sources` slots (one per source). */
/** What a source's de-duplication memory holds (dedup.ts). */
export interface DedupView {
  size: number;
  clock: number;
  hashAt(i: number): number;
  arrivalAt(i: number): number;
}

export function dedupsOf(state: EntityState, sources: number): DedupView[] {
  return Array.from({ length: sources }, (_, s) => {
    const m = dedupAt(state, s);
    return { size: dedupSize(m), clock: dedupClock(m), hashAt: (i) => hashAt(m, i), arrivalAt: (i) => arrivalAt(m, i) };
  });
}

/** Tile indices the series at `p` holds in its source's block, ascending (series.ts layout). */
export function seriesTiles(s: SeriesBlock | undefined, p: SeriesPlan): number[] {
  const out: number[] = [];
  if (s !== undefined) for (let j = s[p.head + START]!; j < s[p.head + END]!; j += p.stride) out.push(s[j]!);
  return out;
}
