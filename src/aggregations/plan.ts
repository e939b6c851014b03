/**
 * Compiles a registry into per-entity slot plans. A slot is the state one or
 * more features read: features with the same source, field and tile size
 * share one tile series, so an event updates each series once.
 */
import { z } from 'zod';
import { sourceSeed } from './dedup.ts';
import { HEADER } from './series.ts';
import type { Registry, ResolvedFeature, ResolvedSource } from '../schemas/registry.ts';

export type { SlotFilter, SeriesPlan, LastPlan, ValueWindowPlan, DistinctPlan, RecentPlan, TopPlan, QuantilePlan, ApproxPlan, LifetimePlan, FirstPlan, NumericGroup, SourcePlan, Output, EntityPlan } from './plan-types.ts';
import type { SlotFilter, SeriesPlan, LastPlan, DistinctPlan, RecentPlan, TopPlan, QuantilePlan, ApproxPlan, LifetimePlan, FirstPlan, SourcePlan, Output, EntityPlan } from './plan-types.ts';

/** Whether every valid event carries a finite number in `field` (zod 4 numbers reject NaN/Infinity). */
function alwaysNumeric(source: ResolvedSource, field: string): boolean {
  if (!(source.schema instanceof z.ZodObject)) return false;
  const f = (source.schema.shape as Record<string, z.ZodType>)[field];
  return f !== undefined && !f.safeParse(undefined).success && !f.safeParse('0').success && f.safeParse(0).success;
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function slotFor<T>(slots: Map<string, T>, key: string, make: () => T): T {
  let slot = slots.get(key);
  if (slot === undefined) slots.set(key, (slot = make()));
  return slot;
}

function layoutTiles(p: SeriesPlan): void {
  const blank = [0, 0];
  if (p.needSum) blank.push(0, 0);
  if (p.needMin) blank.push(Infinity);
  if (p.needMax) blank.push(-Infinity);
  p.minAt = p.needMin ? blank.indexOf(Infinity) : -1;
  p.maxAt = p.needMax ? blank.indexOf(-Infinity) : -1;
  p.momentsAt = p.needMoments ? blank.length : -1;
  if (p.needMoments) blank.push(0, 0);
  p.stride = blank.length;
  p.blank = blank;
}

/** Slot-key suffix of a filter: empty without one, so unfiltered layouts (and their fingerprints) are unchanged. */
function filterPart(f: ResolvedFeature): string {
  return f.filterKey === undefined ? '' : `\0${f.filterKey}`;
}

const SERIES_OPS = new Set<string>(['count', 'sum', 'avg', 'min', 'max', 'stddev', 'variance']);

export function compileEntity(registry: Registry, entity: string, entityIndex: number): EntityPlan {
  const features = registry.featuresOf(entity);
  const series = new Map<string, SeriesPlan>();
  const lasts = new Map<string, LastPlan>();
  const distincts = new Map<string, DistinctPlan>();
  const recents = new Map<string, RecentPlan>();
  const lifetimes = new Map<string, LifetimePlan>();
  const firsts = new Map<string, FirstPlan>();
  const tops = new Map<string, TopPlan>();
  const quantiles = new Map<string, QuantilePlan>();
  const approx = new Map<string, ApproxPlan>();
  const sourceOf = new Map<object, string>();
  const outputs: Output[] = [];
  // One function per distinct filter, so slots under equal filters test it once per event.
  const filters = new Map<string, SlotFilter>();

  for (const f of features) {
    const source = registry.source(f.source)!;
    let filter: SlotFilter;
    if (f.filterKey !== undefined) filter = slotFor(filters, f.filterKey, () => f.filter);
    // Lifetime slots are keyed by TTL too: each resets when it lapses, so features share one only under the same TTL.
    if (f.op === 'approx_distinct') {
      const lifetime = f.lifetime === true;
      const tileMs = lifetime ? 0 : f.tileMs!;
      const tiles = lifetime ? 0 : f.windowMs! / tileMs;
      const key = lifetime ? `${f.source}\0${f.field}\0lifetime\0${f.ttlMs}` : `${f.source}\0${f.field}\0${tileMs}`;
      const slot = slotFor(approx, `${key}${filterPart(f)}`, () => ({ index: approx.size, slot: -1, filter, field: f.field!, tileMs, spanTiles: 0, maxTtlMs: 0, lifetime }));
      sourceOf.set(slot, f.source);
      slot.spanTiles = Math.max(slot.spanTiles, tiles);
      slot.maxTtlMs = Math.max(slot.maxTtlMs, f.ttlMs);
      outputs.push({ kind: 'approx', feature: f, slot, tiles });
    } else if (f.lifetime && (f.op === 'first' || f.op === 'first_k')) {
      const k = f.op === 'first_k' ? f.k! : 0;
      const slot = slotFor(firsts, `${f.source}\0${f.field}\0${f.type}\0${k}\0${f.ttlMs}${filterPart(f)}`, () => ({
        index: firsts.size,
        slot: -1,
        filter,
        field: f.field!,
        type: f.type,
        dim: undefined,
        k,
        ttlMs: f.ttlMs,
      }));
      sourceOf.set(slot, f.source);
      outputs.push({ kind: 'first', feature: f, slot });
    } else if (f.lifetime) {
      const slot = slotFor(lifetimes, `${f.source}\0${f.field ?? ''}\0${f.ttlMs}${filterPart(f)}`, () => ({
        index: lifetimes.size,
        slot: -1,
        filter,
        field: f.field,
        ttlMs: f.ttlMs,
      }));
      sourceOf.set(slot, f.source);
      outputs.push({ kind: 'lifetime', feature: f, slot });
    } else if (SERIES_OPS.has(f.op)) {
      const tileMs = f.tileMs!;
      const tiles = f.windowMs! / tileMs;
      // A plain count joins a numeric series of the same source and tile when every event carries that field.
      const shared =
        f.field ??
        features.find(
          (g) =>
            g.source === f.source &&
            g.tileMs === tileMs &&
            g.filterKey === f.filterKey &&
            g.field !== undefined &&
            g.op !== 'distinct_count' &&
            g.op !== 'approx_distinct' &&
            !g.lifetime &&
            alwaysNumeric(source, g.field),
        )?.field;
      const slot = slotFor(series, `${f.source}\0${shared ?? ''}\0${tileMs}${filterPart(f)}`, () => {
        const s: SeriesPlan = {
          index: series.size,
          slot: -1,
          head: -1,
          blockHead: -1,
          field: shared,
          tileMs,
          spanTiles: 0,
          maxTtlMs: 0,
          needSum: false,
          needMin: false,
          needMax: false,
          needMoments: false,
          filter,
          stride: 0,
          minAt: -1,
          maxAt: -1,
          momentsAt: -1,
          blank: [],
        };
        sourceOf.set(s, f.source);
        return s;
      });
      slot.spanTiles = Math.max(slot.spanTiles, tiles);
      slot.maxTtlMs = Math.max(slot.maxTtlMs, f.ttlMs);
      slot.needSum ||= f.op === 'sum' || f.op === 'avg';
      slot.needMin ||= f.op === 'min';
      slot.needMax ||= f.op === 'max';
      slot.needMoments ||= f.op === 'stddev' || f.op === 'variance';
      outputs.push({ kind: 'series', feature: f, slot, tiles });
    } else if (f.op === 'approx_quantile' || f.op === 'top_k' || f.op === 'distinct_count') {
      const slots = f.op === 'approx_quantile' ? quantiles : f.op === 'top_k' ? tops : distincts;
      const tileMs = f.tileMs!;
      const tiles = f.windowMs! / tileMs;
      const slot = slotFor(slots, `${f.source}\0${f.field}\0${tileMs}${filterPart(f)}`, () => ({
        index: slots.size,
        slot: -1,
        filter,
        field: f.field!,
        tileMs,
        spanTiles: 0,
        maxTtlMs: 0,
      }));
      sourceOf.set(slot, f.source);
      slot.spanTiles = Math.max(slot.spanTiles, tiles);
      slot.maxTtlMs = Math.max(slot.maxTtlMs, f.ttlMs);
      if (f.op === 'approx_quantile') outputs.push({ kind: 'quantile', feature: f, slot, tiles, q: f.q! });
      else if (f.op === 'top_k') outputs.push({ kind: 'top', feature: f, slot, tiles, k: f.k! });
      else outputs.push({ kind: 'distinct', feature: f, slot, tiles });
    } else if (f.op === 'last_k') {
      const slot = slotFor(recents, `${f.source}\0${f.field}${filterPart(f)}`, () => ({ index: recents.size, slot: -1, filter, field: f.field!, k: 0, maxTtlMs: 0 }));
      sourceOf.set(slot, f.source);
      slot.k = Math.max(slot.k, f.k!);
      slot.maxTtlMs = Math.max(slot.maxTtlMs, f.ttlMs);
      outputs.push({ kind: 'recent', feature: f, slot, k: f.k! });
    } else {
      const field = f.op === 'last_time' ? undefined : f.field;
      const slot = slotFor(lasts, `${f.source}\0${field ?? ''}\0${f.type}\0${f.dim ?? ''}${filterPart(f)}`, () => ({
        index: lasts.size,
        slot: -1,
        filter,
        field,
        type: f.type,
        dim: f.dim,
        maxTtlMs: 0,
      }));
      sourceOf.set(slot, f.source);
      slot.maxTtlMs = Math.max(slot.maxTtlMs, f.ttlMs);
      outputs.push({ kind: 'last', feature: f, slot });
    }
  }

  const bySource = new Map<string, SourcePlan>();
  for (const s of registry.sources) {
    if (s.entity === entity) bySource.set(s.name, { index: bySource.size, seed: sourceSeed(s.name), numeric: [], lasts: [], distincts: [], recents: [], lifetimes: [], firsts: [], tops: [], quantiles: [], approx: [] });
  }
  const add = <K extends 'lasts' | 'distincts' | 'recents' | 'lifetimes' | 'firsts' | 'tops' | 'quantiles' | 'approx'>(key: K, slots: Iterable<SourcePlan[K][number]>) => {
    for (const slot of slots) (bySource.get(sourceOf.get(slot)!)![key] as SourcePlan[K][number][]).push(slot);
  };
  for (const slot of series.values()) {
    const numeric = bySource.get(sourceOf.get(slot)!)!.numeric;
    let group = numeric.find((g) => g.field === slot.field && g.filter === slot.filter);
    if (group === undefined) numeric.push((group = { field: slot.field, filter: slot.filter, needDecimals: false, series: [] }));
    group.needDecimals ||= slot.needSum;
    group.series.push(slot);
  }
  for (const slot of series.values()) layoutTiles(slot);
  // The sources' de-duplication memories first: a source's slot is its index.
  let slotCount = bySource.size;
  // Then one series block per source that has series, its series in plan order.
  for (const source of bySource.keys()) {
    const own = [...series.values()].filter((s) => sourceOf.get(s) === source);
    if (own.length === 0) continue;
    own.forEach((s, k) => {
      s.slot = slotCount;
      s.head = HEADER * k;
      s.blockHead = HEADER * own.length;
    });
    slotCount++;
  }
  for (const kind of [lasts, distincts, recents, lifetimes, firsts, tops, quantiles, approx]) for (const slot of kind.values()) slot.slot = slotCount++;
  add('lasts', lasts.values());
  add('distincts', distincts.values());
  add('recents', recents.values());
  add('lifetimes', lifetimes.values());
  add('firsts', firsts.values());
  add('tops', tops.values());
  add('quantiles', quantiles.values());
  add('approx', approx.values());

  const layout = {
    s: [...series.entries()].map(([k, s]) => [k, s.needSum, s.needMin, s.needMax, ...(s.needMoments ? [true] : [])]),
    l: [...lasts.keys()],
    d: [...distincts.keys()],
    r: [...recents.keys()],
    // Only when present: the layouts (and fingerprints) of registries without them are unchanged.
    ...(lifetimes.size > 0 ? { lt: [...lifetimes.keys()] } : {}),
    ...(firsts.size > 0 ? { f: [...firsts.keys()] } : {}),
    ...(tops.size > 0 ? { t: [...tops.keys()] } : {}),
    ...(quantiles.size > 0 ? { q: [...quantiles.keys()] } : {}),
    ...(approx.size > 0 ? { a: [...approx.keys()] } : {}),
  };
  return {
    entity,
    entityIndex,
    sources: [...bySource.keys()],
    series: [...series.values()],
    lasts: [...lasts.values()],
    distincts: [...distincts.values()],
    recents: [...recents.values()],
    lifetimes: [...lifetimes.values()],
    firsts: [...firsts.values()],
    tops: [...tops.values()],
    quantiles: [...quantiles.values()],
    approx: [...approx.values()],
    slotCount,
    bySource,
    outputs,
    groups: registry.groupsOf(entity).map((g) => g.name),
    fingerprint: fnv1a(JSON.stringify(layout)),
  };
}
