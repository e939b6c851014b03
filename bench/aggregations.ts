/**
 * Window engine throughput and state size, default registry, single core.
 *
 * Throughput: 1.2M pre-decoded events (85% transactions, 10% logins, 5%
 * profiles) for 100k Zipf(1.0) users over one day, slightly out of order,
 * through WindowEngine.apply with each user's state looked up in a Map. The
 * baseline is the same loop doing only the Map lookup and a counter, i.e.
 * the floor of any per-event engine.
 *
 * State size: 2,000 users with ~5 transactions/day (90 days), ~2 logins/day
 * and a profile update every ~30 days; serialized after evict at the end.
 *
 * Mixed registry (issue 13): the same events through the default features
 * plus filtered counts, stddev, a lifetime count, first and first_k,
 * approx_distinct (merchants over 7 days and over the lifetime), and a
 * user_merchant entity fed by the same transactions (each transaction updates
 * the user and the pair).
 *
 * Worker-shaped: the first 300k of the same events in batches of 1,000, grouped by user as the
 * worker groups a batch; per user applyMany, evict, evaluate, nextChangeAt
 * and serialize, at the batch's time (the last 200k timed). Its baseline groups the same batches
 * and counts each user's events in a Map. Once more without serialize: the worker with write-behind
 * checkpoints (--checkpoint-interval) serializes a state only at its partition's checkpoint.
 *
 * Memory: heap used plus array buffers (typed arrays' backing stores live
 * outside the JS heap), after a forced GC, with the states of 2,000 users of
 * the state-size profile, and of the Zipf users after the throughput run,
 * minus the same without them: per state (mean), and per state of the middle
 * tenth by serialized size (45th-55th percentile), which stands for the
 * median state.
 *
 * Load: the 1-minute load average at the start and the end of the run, as
 * the machine may be shared (compare ratios to the baselines, not figures).
 */
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { WindowEngine, type EntityState } from '../src/aggregations/engine.ts';
import type { NormalizedEvent } from '../src/schemas/events.ts';
import { defaultRegistryConfig } from '../src/schemas/default-registry.ts';
import { loadRegistryFile, parseRegistry, type Registry } from '../src/schemas/registry.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);
const EVENTS = 1_200_000;
const WARMUP = 200_000;
const USERS = 100_000;
const MERCHANTS = 5_000;

/** Deterministic PRNG (mulberry32), so runs are comparable. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function zipf(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) cdf[i] = total += 1 / (i + 1) ** s;
  return () => {
    const x = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

function event(random: () => number, merchant: () => number, user: string, source: number, t: number, id: string): NormalizedEvent {
  if (source < 0.85) {
    return {
      source: 'transactions',
      entityId: user,
      eventTimeMs: t,
      eventId: id,
      fields: { user_id: user, amount: Math.round(random() * 20_000) / 100, merchant_id: `m${merchant()}`, ts: t },
    };
  }
  if (source < 0.95) return { source: 'logins', entityId: user, eventTimeMs: t, eventId: id, fields: { user_id: user, ts: t } };
  const fields = { user_id: user, created_at: T0 - 400 * DAY, credit_score_bucket: Math.floor(random() * 5), is_premium: random() < 0.2 ? 1 : 0, ts: t };
  return { source: 'profiles', entityId: user, eventTimeMs: t, eventId: id, fields };
}

/** Events are made in chunks outside the timed loop, so a huge live heap does not tax the GC. */
function eventSource(): (from: number, n: number) => { events: NormalizedEvent[]; nows: number[] } {
  const random = rng(1);
  const user = zipf(USERS, 1.0, random);
  const merchant = zipf(MERCHANTS, 1.1, random);
  const ids = Array.from({ length: USERS }, (_, i) => `u${i}`);
  const total = EVENTS + WARMUP;
  return (from, n) => {
    const events: NormalizedEvent[] = [];
    const nows: number[] = [];
    for (let i = from; i < from + n; i++) {
      const now = T0 + Math.floor((i / total) * DAY);
      // Mostly a little late, sometimes minutes late: out-of-order arrival.
      const late = random() < 0.02 ? Math.floor(random() * 600_000) : Math.floor(random() * 2_000);
      events.push(event(random, merchant, ids[user()]!, random(), now - late, `e${i}`));
      nows.push(now);
    }
    return { events, nows };
  };
}

/** CPU time, not wall time: the bench machine is shared, and a single thread's CPU time is what "single core" means. */
function cpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

function timeApply(engine: WindowEngine, events: NormalizedEvent[], nows: number[], states: Map<string, EntityState>): number {
  const started = process.cpuUsage();
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    let s = states.get(e.entityId);
    if (s === undefined) states.set(e.entityId, (s = engine.newState('user')));
    engine.apply(s, e, nows[i]!);
  }
  return cpuSeconds(started);
}

const BATCH = 1_000;
/** The first events of the same stream (about the first 4 hours): serializing every touched state per batch is slow. */
const WORKER_WARMUP = 100_000;
const WORKER_EVENTS = 200_000;

/** One batch's events by user, in arrival order, as the worker groups them. */
function byUser(events: NormalizedEvent[], from: number, to: number): Map<string, NormalizedEvent[]> {
  const groups = new Map<string, NormalizedEvent[]>();
  for (let i = from; i < to; i++) {
    const e = events[i]!;
    const g = groups.get(e.entityId);
    if (g === undefined) groups.set(e.entityId, [e]);
    else g.push(e);
  }
  return groups;
}

/** What the worker does per user per batch: apply the user's events, evict, evaluate, next change, serialize (unless write-behind). */
function timeWorkerShaped(engine: WindowEngine, events: NormalizedEvent[], nows: number[], states: Map<string, EntityState>, serialize: boolean): number {
  const started = process.cpuUsage();
  for (let from = 0; from < events.length; from += BATCH) {
    const to = Math.min(events.length, from + BATCH);
    const now = nows[to - 1]!;
    for (const [id, group] of byUser(events, from, to)) {
      let s = states.get(id);
      if (s === undefined) states.set(id, (s = engine.newState('user')));
      engine.applyMany(s, group, now);
      engine.evict(s, now);
      engine.evaluate(s, now);
      engine.nextChangeAt(s, now);
      if (serialize) engine.serialize(s);
    }
  }
  return cpuSeconds(started);
}

function timeWorkerBaseline(events: NormalizedEvent[], counts: Map<string, { n: number }>): number {
  const started = process.cpuUsage();
  for (let from = 0; from < events.length; from += BATCH) {
    for (const [id, group] of byUser(events, from, Math.min(events.length, from + BATCH))) {
      let c = counts.get(id);
      if (c === undefined) counts.set(id, (c = { n: 0 }));
      c.n += group.length;
    }
  }
  return cpuSeconds(started);
}

/** A full GC (V8's gc() without --expose-gc on the command line), for heap figures. */
function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Bytes the states hold: JS heap plus typed-array backing stores. */
function usedBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/**
 * Bytes per state with `build()`'s states live, minus the same after dropping
 * them: the mean over all, and the mean over the middle tenth by serialized
 * size (the median state's neighbourhood).
 */
function heapPerState(gc: () => void, engine: WindowEngine, build: () => EntityState[]): { mean: number; median: number } {
  let states: EntityState[] | undefined = build();
  const n = states.length;
  const bySize = states.map((s, i) => [engine.serialize(s).length, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let middle: EntityState[] | undefined = bySize.slice(Math.floor(n * 0.45), Math.ceil(n * 0.55)).map(([, i]) => states![i]!);
  const m = middle.length;
  gc();
  const withAll = usedBytes();
  states = undefined;
  gc();
  const withMiddle = usedBytes();
  middle = undefined;
  gc();
  const without = usedBytes();
  return { mean: Math.round((withAll - without) / n), median: Math.round((withMiddle - without) / m) };
}

/** The default registry plus the issue-13 kinds: filters, stddev, lifetime, first/first_k, approx_distinct, and a pair entity on the same topic. */
function mixedRegistry(): Registry {
  const base = defaultRegistryConfig;
  const big = [{ field: 'amount', gte: 100 }];
  const extra = [
    { name: 'big_tx_1h', source: 'transactions', op: 'count', window: '1h', type: 'int', default: 0, where: big },
    { name: 'big_tx_sum_24h', source: 'transactions', op: 'sum', field: 'amount', window: '24h', type: 'float', default: 0, where: big },
    { name: 'amount_sd_7d', source: 'transactions', op: 'stddev', field: 'amount', window: '7d', type: 'float', default: 0 },
    { name: 'tx_lifetime', source: 'transactions', op: 'count', window: 'lifetime', type: 'int', default: 0, freshness: '365d' },
    { name: 'first_merchant', source: 'transactions', op: 'first', field: 'merchant_id', type: 'string', default: '', freshness: '365d' },
    { name: 'first_merchants', source: 'transactions', op: 'first_k', field: 'merchant_id', k: 5, type: 'string_list', default: [], freshness: '365d' },
    { name: 'merchants_ad_7d', source: 'transactions', op: 'approx_distinct', field: 'merchant_id', window: '7d', type: 'int', default: 0 },
    { name: 'merchants_ad_lifetime', source: 'transactions', op: 'approx_distinct', field: 'merchant_id', window: 'lifetime', type: 'int', default: 0, freshness: '365d' },
    { name: 'pair_tx_30d', source: 'pair_tx', op: 'count', window: '30d', type: 'int', default: 0 },
    { name: 'pair_sum_30d', source: 'pair_tx', op: 'sum', field: 'amount', window: '30d', type: 'float', default: 0 },
    { name: 'pair_lifetime', source: 'pair_tx', op: 'count', window: 'lifetime', type: 'int', default: 0, freshness: '365d' },
  ];
  const userExtra = extra.filter((f) => f.source === 'transactions').map((f) => f.name);
  return parseRegistry({
    ...base,
    entities: [...base.entities, { name: 'user_merchant', keys: ['user_id', 'merchant_id'] }],
    sources: [
      ...base.sources,
      { name: 'pair_tx', topic: 'transactions', entity: 'user_merchant', keyFields: ['user_id', 'merchant_id'], timeField: 'ts', schema: 'transactions' },
    ],
    features: [...base.features, ...extra],
    groups: [
      { name: 'features', features: [...base.groups[0].features, ...userExtra] },
      { name: 'pair', features: ['pair_tx_30d', 'pair_sum_30d', 'pair_lifetime'] },
    ],
  });
}

/** Each transaction also updates its user_merchant pair, as a worker reading one topic into two sources does. */
function timeApplyMixed(engine: WindowEngine, events: NormalizedEvent[], nows: number[], states: Map<string, EntityState>): number {
  const started = process.cpuUsage();
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    let s = states.get(e.entityId);
    if (s === undefined) states.set(e.entityId, (s = engine.newState('user')));
    engine.apply(s, e, nows[i]!);
    if (e.source !== 'transactions') continue;
    const pairId = `${e.entityId}|${e.fields.merchant_id as string}`;
    let p = states.get(pairId);
    if (p === undefined) states.set(pairId, (p = engine.newState('user_merchant')));
    engine.apply(p, { ...e, source: 'pair_tx', entityId: pairId }, nows[i]!);
  }
  return cpuSeconds(started);
}

function timeBaseline(events: NormalizedEvent[], counts: Map<string, { n: number }>): number {
  const started = process.cpuUsage();
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    let c = counts.get(e.entityId);
    if (c === undefined) counts.set(e.entityId, (c = { n: 0 }));
    c.n += e.eventTimeMs > 0 ? 1 : 0;
  }
  return cpuSeconds(started);
}

/** A poisson-ish count of events at `perDay` over `days`, at random times. */
function times(random: () => number, perDay: number, days: number): number[] {
  const n = Math.round(perDay * days * (0.5 + random()));
  return Array.from({ length: n }, () => T0 + Math.floor(random() * days * DAY)).sort((a, b) => a - b);
}

/** 2,000 users' states of the state-size profile, evicted at the end. */
function profileStates(engine: WindowEngine): EntityState[] {
  const random = rng(2);
  const states: EntityState[] = [];
  const end = T0 + 90 * DAY;
  for (let u = 0; u < 2_000; u++) {
    const user = `u${u}`;
    // Each user shops at a few favourite merchants plus the global long tail.
    const favourites = Array.from({ length: 8 }, () => Math.floor(random() * MERCHANTS));
    const merchant = () => (random() < 0.7 ? favourites[Math.floor(random() * 8)]! : Math.floor(random() * MERCHANTS));
    const events = [
      ...times(random, 5, 90).map((t) => event(random, merchant, user, 0, t, randomUUID())),
      ...times(random, 2, 90).map((t) => event(random, merchant, user, 0.9, t, randomUUID())),
      ...times(random, 1 / 30, 90).map((t) => event(random, merchant, user, 0.99, t, randomUUID())),
    ].sort((a, b) => a.eventTimeMs - b.eventTimeMs);
    const state = engine.newState('user');
    for (const e of events) engine.apply(state, e, e.eventTimeMs + 1_000);
    engine.evict(state, end);
    states.push(state);
  }
  return states;
}

function stateSizes(engine: WindowEngine): number[] {
  return profileStates(engine)
    .map((s) => engine.serialize(s).length)
    .sort((a, b) => a - b);
}

const CHUNK = 100_000;

/**
 * Runs `step` over the event stream from its start in chunks, returning the
 * CPU seconds of each of its timings summed over the chunks after `warmup` events.
 */
function timedChunks<T extends [number, ...number[]]>(warmup: number, timed: number, step: (events: NormalizedEvent[], nows: number[]) => T): T {
  const source = eventSource();
  let sums: T | undefined;
  for (let from = 0; from < warmup + timed; from += CHUNK) {
    const { events, nows } = source(from, CHUNK);
    const seconds = step(events, nows);
    if (from < warmup) continue;
    if (sums === undefined) sums = seconds;
    else for (let i = 0; i < sums.length; i++) sums[i]! += seconds[i]!;
  }
  return sums!;
}

export default async function run(): Promise<{ metrics: Record<string, number | string>; table: Array<Record<string, string | number>> }> {
  const loadAtStart = loadavg()[0]!;
  const registry = await loadRegistryFile();
  const engine = new WindowEngine(registry);
  const mixed = new WindowEngine(mixedRegistry());
  // The default and the mixed registry run one after the other over the same events, each with only its own states live.
  let states = new Map<string, EntityState>();
  const counts = new Map<string, { n: number }>();
  const [seconds, baseSeconds] = timedChunks(WARMUP, EVENTS, (events, nows) => [timeApply(engine, events, nows, states), timeBaseline(events, counts)]);
  const gc = gcFunction();
  const zipfHeap = heapPerState(gc, engine, () => {
    const all = [...states.values()];
    states.clear();
    return all;
  });
  const worker = (serialize: boolean) => {
    const workerStates = new Map<string, EntityState>();
    const workerCounts = new Map<string, { n: number }>();
    const [workerSeconds, workerBaseSeconds] = timedChunks(WORKER_WARMUP, WORKER_EVENTS, (events, nows) => [
      timeWorkerShaped(engine, events, nows, workerStates, serialize),
      timeWorkerBaseline(events, workerCounts),
    ]);
    return { workerSeconds, workerBaseSeconds };
  };
  const { workerSeconds, workerBaseSeconds } = worker(true);
  const writeBehind = worker(false);
  states = new Map<string, EntityState>();
  const [mixedSeconds] = timedChunks(WARMUP, EVENTS, (events, nows) => [timeApplyMixed(mixed, events, nows, states)]);
  const sizes = stateSizes(engine);
  const profileHeap = heapPerState(gc, engine, () => profileStates(engine));
  const mixedSizes = stateSizes(mixed);
  const pct = (p: number) => sizes[Math.min(sizes.length - 1, Math.floor(p * sizes.length))]!;
  const metrics = {
    events: EVENTS,
    events_per_sec: Math.round(EVENTS / seconds),
    mixed_events_per_sec: Math.round(EVENTS / mixedSeconds),
    baseline_events_per_sec: Math.round(EVENTS / baseSeconds),
    ns_per_event: Math.round((seconds * 1e9) / EVENTS),
    state_bytes_median: pct(0.5),
    state_bytes_p99: pct(0.99),
    state_bytes_max: sizes.at(-1)!,
    mixed_user_state_bytes_median: mixedSizes[Math.floor(mixedSizes.length / 2)]!,
    worker_shaped_events_per_sec: Math.round(WORKER_EVENTS / workerSeconds),
    worker_shaped_baseline_events_per_sec: Math.round(WORKER_EVENTS / workerBaseSeconds),
    worker_shaped_write_behind_events_per_sec: Math.round(WORKER_EVENTS / writeBehind.workerSeconds),
    worker_shaped_write_behind_baseline_events_per_sec: Math.round(WORKER_EVENTS / writeBehind.workerBaseSeconds),
    heap_bytes_per_state_profile: profileHeap.mean,
    heap_bytes_per_state_profile_median: profileHeap.median,
    heap_bytes_per_state_zipf: zipfHeap.mean,
    heap_bytes_per_state_zipf_median: zipfHeap.median,
    load_avg_1m_start: loadAtStart,
    load_avg_1m_end: loadavg()[0]!,
  };
  return {
    metrics,
    table: [
      { case: 'apply, default registry, Zipf users', value: metrics.events_per_sec, unit: 'events/s', goal: '>= 1000000' },
      { case: 'apply, mixed registry (filters, stddev, lifetime, first_k, approx_distinct, pair entity)', value: metrics.mixed_events_per_sec, unit: 'events/s', goal: '' },
      { case: 'baseline: Map lookup + counter', value: metrics.baseline_events_per_sec, unit: 'events/s', goal: '' },
      { case: 'worker-shaped: batches of 1,000 by user, applyMany + evict + evaluate + nextChangeAt + serialize', value: metrics.worker_shaped_events_per_sec, unit: 'events/s', goal: '' },
      { case: 'worker-shaped baseline: the same grouping + Map lookup + counter', value: metrics.worker_shaped_baseline_events_per_sec, unit: 'events/s', goal: '' },
      { case: 'worker-shaped, write-behind checkpoints: the same without serialize', value: metrics.worker_shaped_write_behind_events_per_sec, unit: 'events/s', goal: '' },
      { case: 'worker-shaped baseline, in that run', value: metrics.worker_shaped_write_behind_baseline_events_per_sec, unit: 'events/s', goal: '' },
      { case: 'state, 5 tx/day over 90 days, median', value: metrics.state_bytes_median, unit: 'bytes', goal: '<= 1024' },
      { case: 'state, p99', value: metrics.state_bytes_p99, unit: 'bytes', goal: '' },
      { case: 'user state, mixed registry, median', value: metrics.mixed_user_state_bytes_median, unit: 'bytes', goal: '' },
      { case: 'heap per in-memory state, 5 tx/day over 90 days, median (middle tenth by size)', value: metrics.heap_bytes_per_state_profile_median, unit: 'bytes', goal: '<= 1024' },
      { case: 'heap per in-memory state, 5 tx/day over 90 days, mean', value: metrics.heap_bytes_per_state_profile, unit: 'bytes', goal: '' },
      { case: 'heap per in-memory state, Zipf users after the apply run, median (middle tenth by size)', value: metrics.heap_bytes_per_state_zipf_median, unit: 'bytes', goal: '<= 1024' },
      { case: 'heap per in-memory state, Zipf users after the apply run, mean', value: metrics.heap_bytes_per_state_zipf, unit: 'bytes', goal: '' },
      { case: 'load average (1 min) at start / end', value: `${metrics.load_avg_1m_start.toFixed(2)} / ${metrics.load_avg_1m_end.toFixed(2)}`, unit: '', goal: '' },
    ],
  };
}
