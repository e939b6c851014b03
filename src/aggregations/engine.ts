/**
 * The pure window engine: per-entity state in, feature values out, no I/O.
 *
 * Window rule. A windowed feature with window W and tile T (W a whole number
 * of tiles) keeps one partial aggregate per epoch-aligned tile: tile i holds
 * the events with i*T <= ts < (i+1)*T. At time `now` (integer ms) it reads
 * the W/T tiles ending with the tile that holds the instant now - 1, i.e. the
 * events with
 *
 *     tileStart(now) + T - W  <=  ts  <  tileStart(now) + T,    tileStart(now) = floor((now - 1) / T) * T
 *
 * which is exactly [now - W, now) when `now` is a multiple of T. Between
 * tile edges both ends of the window run ahead of [now - W, now) by less
 * than one tile, so a window changes only at edge + 1 ms. Events ahead of the
 * current tile (allowed up to `maxFutureSkewMs` ahead of their arrival) are
 * kept and counted once their tile is current. Every windowed operator merges
 * its tiles: count, sum, avg, min, max, distinct_count, stddev/variance
 * (population; Welford mean and M2 per tile, merged), top_k (counts per value
 * per tile; most frequent first, ties to the value that sorts first),
 * approx_quantile (log-bucket counts per tile, within 1%, see quantile.ts)
 * and approx_distinct (value hashes, then HyperLogLog registers per tile
 * merged by max, see approx-distinct.ts).
 *
 * Other rules:
 * - Late events: an event lands in its own tile as long as that tile is in
 *   some window of its series; an event older than every window of a slot
 *   (and older than its TTL) changes nothing; `apply` returns 'expired' when
 *   no slot took the event.
 * - Freshness: a feature is absent from `evaluate` (listed in `lapsed`) when
 *   no event reached it with ts > now - TTL (TTL = 2 x freshness; freshness
 *   defaults to the window). A fresh feature over an empty window is 0 for
 *   count, sum, distinct_count and approx_distinct, [] for top_k, and its
 *   default for avg, min, max, stddev, variance and approx_quantile.
 * - last: the value of the newest event by event time; at equal times the
 *   larger value wins (numbers numerically, strings by code unit, vectors
 *   element by element), so arrival order never matters. last_time is the
 *   newest event time in epoch seconds.
 * - last_k: the k distinct values with the newest event times among events
 *   with ts > now - TTL, newest first; equal times put the larger value first.
 * - Filters (`where`): an event that fails a feature's filter never reaches
 *   its slot, so it neither counts nor refreshes the feature's freshness.
 *   Filtered features get slots of their own (shared under equal filters).
 * - Lifetime (`window: "lifetime"` count/sum/min/max/approx_distinct, and first/first_k):
 *   everything since the feature was last fresh. An event applied while the
 *   slot has lapsed (no event for its TTL) restarts it, if the event is
 *   itself within the TTL of now; an older one only joins a live slot.
 *   first is the earliest value by event time (ties: the smaller value),
 *   first_k the k distinct values seen earliest, earliest first.
 * - approx_distinct counts what distinct_count counts: exactly while at most
 *   128 distinct values fall in the slot's span, else within a relative
 *   standard error of 1.63% (HyperLogLog, 4,096 registers), until the span
 *   holds no register tile again.
 * - An event whose time is more than `maxFutureSkewMs` (default 5 min)
 *   ahead of its arrival throws InvalidEventError EVENT_IN_FUTURE. Arrival is
 *   `event.arrivalMs` (the Kafka record timestamp), else `nowMs`: a replay of
 *   the same records decides the same way, whatever the consumer lag.
 * - De-duplication, in arrival time: each entity has an arrival clock per
 *   source, the latest arrival among that source's events so far (this one
 *   included). An event with an id is a 'duplicate' when the same (source,
 *   id) counted at an arrival less than `dedupHorizonMs` (default 1 h)
 *   before that clock, whatever its event time; otherwise it counts and its
 *   arrival is remembered. With arrivals in order (one partition, record
 *   timestamps) this is "a re-sent id counts once if it arrives within the
 *   horizon of its first arrival"; one clock per source keeps a lagging
 *   topic from being judged by another topic's newer timestamps. Memory: a
 *   52-bit hash and a time per id counted within one horizon (dedup.ts).
 * - NaN, Infinity and missing values never enter state: the slot skips them.
 * - Time only moves forward: pass each state a non-decreasing `nowMs`, since
 *   `apply` and `evict` drop tiles that no later window can read.
 */
import { FeaturestreamError, InvalidEventError } from '../errors.ts';
import type { NormalizedEvent } from '../schemas/events.ts';
import type { FeatureValue, Registry } from '../schemas/registry.ts';
import { compileEntity, type EntityPlan } from './plan.ts';
import { UNUSED, newDedup, repeated, seededKeyHash, tick } from './dedup.ts';
import { evictState } from './read.ts';
import { afterEvict, changeOf, forget, memoLayout, readOutput, type MemoLayout } from './memo.ts';
import { deserializeState, serializeState } from './serialize.ts';
import { dedupAt, emptyState, type EntityState } from './state.ts';
import { NO_TIME, decimals } from './numbers.ts';
import { addApprox } from './approx-distinct.ts';
import { addDistinct } from './distinct.ts';
import { addToSeries } from './series.ts';
import { addRecent } from './recent.ts';
import { addFirst, addLast, addLifetime, addQuantile, addTop, finite } from './update.ts';

export type { EntityState };
export type ApplyOutcome = 'applied' | 'duplicate' | 'expired';
/** One event's result in `applyMany`: its outcome, or why it was refused. */
export type ApplyResult = ApplyOutcome | InvalidEventError;

export interface WindowEngineOptions {
  maxFutureSkewMs?: number;
  dedupHorizonMs?: number;
}

export interface EvaluatedVector {
  /** Group name -> feature name -> value; lapsed features are absent. */
  groups: Record<string, Record<string, FeatureValue>>;
  /** Features absent above: the worker removes their hash fields. */
  lapsed: string[];
  newestEventTimeMs: number | undefined;
}

export const DEFAULT_MAX_FUTURE_SKEW_MS = 5 * 60_000;
export const DEFAULT_DEDUP_HORIZON_MS = 60 * 60_000;

export class WindowEngine {
  readonly maxFutureSkewMs: number;
  readonly dedupHorizonMs: number;
  private readonly plans: EntityPlan[];
  private readonly byEntity = new Map<string, EntityPlan>();
  /** Per plan (entity index): which remembered reads each change forgets. */
  private readonly memos: MemoLayout[];

  constructor(
    readonly registry: Registry,
    options: WindowEngineOptions = {},
  ) {
    this.maxFutureSkewMs = options.maxFutureSkewMs ?? DEFAULT_MAX_FUTURE_SKEW_MS;
    this.dedupHorizonMs = options.dedupHorizonMs ?? DEFAULT_DEDUP_HORIZON_MS;
    for (const [name, v] of Object.entries({ maxFutureSkewMs: this.maxFutureSkewMs, dedupHorizonMs: this.dedupHorizonMs })) {
      if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`WindowEngine option ${name} must be whole non-negative ms, got ${v}`);
    }
    this.plans = registry.entities.map((e, i) => compileEntity(registry, e.name, i));
    for (const p of this.plans) this.byEntity.set(p.entity, p);
    this.memos = this.plans.map(memoLayout);
  }

  private plan(entity: string): EntityPlan {
    const plan = this.byEntity.get(entity);
    if (plan === undefined) throw new FeaturestreamError('NOT_FOUND', `unknown entity type "${entity}"`, false);
    return plan;
  }

  private planOf(state: EntityState): EntityPlan {
    return this.plans[state.entityIndex] ?? this.plan(state.entity);
  }

  newState(entityType: string): EntityState {
    return emptyState(this.plan(entityType));
  }

  apply(state: EntityState, event: NormalizedEvent, nowMs: number): ApplyOutcome {
    const result = this.applyOne(state, this.planOf(state), event, nowMs);
    if (result instanceof InvalidEventError) throw result;
    return result;
  }

  /**
   * Applies one entity's events in order, as `apply` would one by one: per
   * event its outcome, or the InvalidEventError `apply` would have thrown
   * (the event changed nothing; the rest still apply). Other errors throw.
   */
  applyMany(state: EntityState, events: readonly NormalizedEvent[], nowMs: number): ApplyResult[] {
    const plan = this.planOf(state);
    const results: ApplyResult[] = new Array(events.length);
    for (let i = 0; i < events.length; i++) results[i] = this.applyOne(state, plan, events[i]!, nowMs);
    return results;
  }

  private applyOne(state: EntityState, plan: EntityPlan, event: NormalizedEvent, nowMs: number): ApplyResult {
    const sp = plan.bySource.get(event.source);
    if (sp === undefined) {
      return new InvalidEventError('EVENT_INVALID', `source "${event.source}" does not feed entity type ${state.entity}`);
    }
    const t = event.eventTimeMs;
    if (!Number.isSafeInteger(t)) return new InvalidEventError('EVENT_INVALID', `event time ${t} is not a whole number of epoch ms`);
    const arrival = event.arrivalMs ?? nowMs;
    if (!Number.isSafeInteger(arrival)) return new InvalidEventError('EVENT_INVALID', `arrival time ${arrival} is not a whole number of epoch ms`);
    if (t > arrival + this.maxFutureSkewMs) {
      return new InvalidEventError(
        'EVENT_IN_FUTURE',
        `${event.source} event at ${new Date(t).toISOString()} is ${t - arrival} ms ahead of its arrival (max skew ${this.maxFutureSkewMs} ms)`,
        { details: { source: event.source, eventTimeMs: t, arrivalMs: arrival } },
      );
    }
    let dedup = dedupAt(state, sp.index);
    if (dedup === UNUSED) state.slots[sp.index] = dedup = newDedup();
    tick(dedup, arrival);
    if (event.eventId !== undefined && repeated(state.slots, sp.index, seededKeyHash(sp.seed, event.eventId), arrival, this.dedupHorizonMs)) {
      return 'duplicate';
    }
    if (t > state.newest) state.newest = t;
    forget(state.memo, this.memos[plan.entityIndex]!.bySource[sp.index]!);
    const f = event.fields;
    let took = false;
    for (const g of sp.numeric) {
      if (g.filter !== undefined && !g.filter(f)) continue;
      let v = 0;
      if (g.field !== undefined) {
        const x = finite(f[g.field]);
        if (x === undefined) continue;
        v = x;
      }
      const d = g.needDecimals ? decimals(v) : 0;
      for (const p of g.series) if (addToSeries(state, p, v, d, t, nowMs)) took = true;
    }
    for (const p of sp.lasts) if ((p.filter === undefined || p.filter(f)) && addLast(state, p, f, t, nowMs)) took = true;
    for (const p of sp.distincts) if ((p.filter === undefined || p.filter(f)) && addDistinct(state, p, f, t, nowMs)) took = true;
    for (const p of sp.recents) if ((p.filter === undefined || p.filter(f)) && addRecent(state, p, f, t, nowMs)) took = true;
    for (const p of sp.lifetimes) if ((p.filter === undefined || p.filter(f)) && addLifetime(state, p, f, t, nowMs)) took = true;
    for (const p of sp.firsts) if ((p.filter === undefined || p.filter(f)) && addFirst(state, p, f, t, nowMs)) took = true;
    for (const p of sp.tops) if ((p.filter === undefined || p.filter(f)) && addTop(state, p, f, t, nowMs)) took = true;
    for (const p of sp.quantiles) if ((p.filter === undefined || p.filter(f)) && addQuantile(state, p, f, t, nowMs)) took = true;
    for (const p of sp.approx) if ((p.filter === undefined || p.filter(f)) && addApprox(state, p, f, t, nowMs)) took = true;
    return took ? 'applied' : 'expired';
  }

  evaluate(state: EntityState, nowMs: number): EvaluatedVector {
    const plan = this.planOf(state);
    const groups: Record<string, Record<string, FeatureValue>> = {};
    for (const g of plan.groups) groups[g] = {};
    const lapsed: string[] = [];
    for (let i = 0; i < plan.outputs.length; i++) {
      const { feature } = plan.outputs[i]!;
      const v = readOutput(plan, state, i, nowMs);
      if (v === undefined) lapsed.push(feature.name);
      // Copies: the caller may keep or change what it gets, never the remembered value.
      else groups[feature.group]![feature.name] = v instanceof Float32Array || Array.isArray(v) ? v.slice() : v;
    }
    return { groups, lapsed, newestEventTimeMs: state.newest === NO_TIME ? undefined : state.newest };
  }

  /** Earliest time after nowMs at which evaluate() may change without new events (a tile enters or leaves a window, a feature lapses). */
  nextChangeAt(state: EntityState, nowMs: number): number | undefined {
    const plan = this.planOf(state);
    let next = Infinity;
    for (let i = 0; i < plan.outputs.length; i++) {
      readOutput(plan, state, i, nowMs);
      next = Math.min(next, changeOf(state, i));
    }
    return next === Infinity ? undefined : next;
  }

  evict(state: EntityState, nowMs: number): void {
    const plan = this.planOf(state);
    evictState(plan, state, nowMs, this.dedupHorizonMs);
    afterEvict(state.memo, this.memos[plan.entityIndex]!, nowMs);
  }

  serialize(state: EntityState): Uint8Array {
    return serializeState(this.planOf(state), state);
  }

  deserialize(bytes: Uint8Array): EntityState {
    return deserializeState(this.plans, bytes);
  }
}
