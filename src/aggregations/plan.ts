/**
 * Compiles a registry into per-entity slot plans. A slot is the state one or
 * more features read: features with the same source, field and tile size
 * share one tile series, so an event updates each series once.
 */
import { z } from 'zod';
import type { Registry, ResolvedFeature, ResolvedSource } from '../schemas/registry.ts';

export interface SeriesPlan {
  index: number;
  /** Undefined: counts every event of the source. */
  field: string | undefined;
  tileMs: number;
  /** Tiles of the longest member window. */
  spanTiles: number;
  maxTtlMs: number;
  needSum: boolean;
  needMin: boolean;
  needMax: boolean;
  /** Layout of a tile in SeriesState.tiles: numbers per tile, and offsets of min and max (-1: not kept); sum units and scale sit at 2 and 3. */
  stride: number;
  minAt: number;
  maxAt: number;
  /** A new tile's numbers (index 0 to be set). */
  blank: number[];
}

export interface LastPlan {
  index: number;
  /** Undefined: the slot keeps the newest event time (`last_time`). */
  field: string | undefined;
  type: ResolvedFeature['type'];
  dim: number | undefined;
  maxTtlMs: number;
}

export interface DistinctPlan {
  index: number;
  field: string;
  tileMs: number;
  spanTiles: number;
  maxTtlMs: number;
}

export interface RecentPlan {
  index: number;
  field: string;
  k: number;
  maxTtlMs: number;
}

/** Series reading one field (or plain counts): the value is read and checked once per event. */
export interface NumericGroup {
  field: string | undefined;
  needDecimals: boolean;
  series: SeriesPlan[];
}

export interface SourcePlan {
  /** Position among the entity's sources: its de-duplication memory. */
  index: number;
  numeric: NumericGroup[];
  lasts: LastPlan[];
  distincts: DistinctPlan[];
  recents: RecentPlan[];
}

/** One output feature and the slot it reads. */
export type Output =
  | { kind: 'series'; feature: ResolvedFeature; slot: SeriesPlan; tiles: number }
  | { kind: 'last'; feature: ResolvedFeature; slot: LastPlan }
  | { kind: 'distinct'; feature: ResolvedFeature; slot: DistinctPlan; tiles: number }
  | { kind: 'recent'; feature: ResolvedFeature; slot: RecentPlan; k: number };

export interface EntityPlan {
  entity: string;
  entityIndex: number;
  /** Names of the sources feeding the entity, in registry order. */
  sources: string[];
  series: SeriesPlan[];
  lasts: LastPlan[];
  distincts: DistinctPlan[];
  recents: RecentPlan[];
  bySource: Map<string, SourcePlan>;
  outputs: Output[];
  groups: string[];
  /** Identifies the slot layout, so state written under another registry is refused. */
  fingerprint: number;
}

/**
 * The tile a window at `now` ends with: the one holding the instant just
 * before now, so that at a tile edge the window is exactly [now - W, now).
 */
export function currentTile(now: number, tileMs: number): number {
  return Math.floor((now - 1) / tileMs);
}

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
  p.stride = blank.length;
  p.blank = blank;
}

export function compileEntity(registry: Registry, entity: string, entityIndex: number): EntityPlan {
  const features = registry.featuresOf(entity);
  const series = new Map<string, SeriesPlan>();
  const lasts = new Map<string, LastPlan>();
  const distincts = new Map<string, DistinctPlan>();
  const recents = new Map<string, RecentPlan>();
  const sourceOf = new Map<object, string>();
  const outputs: Output[] = [];

  for (const f of features) {
    const source = registry.source(f.source)!;
    if (f.op === 'count' || f.op === 'sum' || f.op === 'avg' || f.op === 'min' || f.op === 'max') {
      const tileMs = f.tileMs!;
      const tiles = f.windowMs! / tileMs;
      // A plain count joins a numeric series of the same source and tile when every event carries that field.
      const shared =
        f.field ??
        features.find(
          (g) =>
            g.source === f.source &&
            g.tileMs === tileMs &&
            g.field !== undefined &&
            g.op !== 'distinct_count' &&
            alwaysNumeric(source, g.field),
        )?.field;
      const slot = slotFor(series, `${f.source}\0${shared ?? ''}\0${tileMs}`, () => {
        const s: SeriesPlan = {
          index: series.size,
          field: shared,
          tileMs,
          spanTiles: 0,
          maxTtlMs: 0,
          needSum: false,
          needMin: false,
          needMax: false,
          stride: 0,
          minAt: -1,
          maxAt: -1,
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
      outputs.push({ kind: 'series', feature: f, slot, tiles });
    } else if (f.op === 'distinct_count') {
      const tileMs = f.tileMs!;
      const tiles = f.windowMs! / tileMs;
      const slot = slotFor(distincts, `${f.source}\0${f.field}\0${tileMs}`, () => ({
        index: distincts.size,
        field: f.field!,
        tileMs,
        spanTiles: 0,
        maxTtlMs: 0,
      }));
      sourceOf.set(slot, f.source);
      slot.spanTiles = Math.max(slot.spanTiles, tiles);
      slot.maxTtlMs = Math.max(slot.maxTtlMs, f.ttlMs);
      outputs.push({ kind: 'distinct', feature: f, slot, tiles });
    } else if (f.op === 'last_k') {
      const slot = slotFor(recents, `${f.source}\0${f.field}`, () => ({ index: recents.size, field: f.field!, k: 0, maxTtlMs: 0 }));
      sourceOf.set(slot, f.source);
      slot.k = Math.max(slot.k, f.k!);
      slot.maxTtlMs = Math.max(slot.maxTtlMs, f.ttlMs);
      outputs.push({ kind: 'recent', feature: f, slot, k: f.k! });
    } else {
      const field = f.op === 'last_time' ? undefined : f.field;
      const slot = slotFor(lasts, `${f.source}\0${field ?? ''}\0${f.type}\0${f.dim ?? ''}`, () => ({
        index: lasts.size,
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
    if (s.entity === entity) bySource.set(s.name, { index: bySource.size, numeric: [], lasts: [], distincts: [], recents: [] });
  }
  const add = <K extends 'lasts' | 'distincts' | 'recents'>(key: K, slots: Iterable<SourcePlan[K][number]>) => {
    for (const slot of slots) (bySource.get(sourceOf.get(slot)!)![key] as SourcePlan[K][number][]).push(slot);
  };
  for (const slot of series.values()) {
    const numeric = bySource.get(sourceOf.get(slot)!)!.numeric;
    let group = numeric.find((g) => g.field === slot.field);
    if (group === undefined) numeric.push((group = { field: slot.field, needDecimals: false, series: [] }));
    group.needDecimals ||= slot.needSum;
    group.series.push(slot);
  }
  for (const slot of series.values()) layoutTiles(slot);
  add('lasts', lasts.values());
  add('distincts', distincts.values());
  add('recents', recents.values());

  const layout = {
    s: [...series.entries()].map(([k, s]) => [k, s.needSum, s.needMin, s.needMax]),
    l: [...lasts.keys()],
    d: [...distincts.keys()],
    r: [...recents.keys()],
  };
  return {
    entity,
    entityIndex,
    sources: [...bySource.keys()],
    series: [...series.values()],
    lasts: [...lasts.values()],
    distincts: [...distincts.values()],
    recents: [...recents.values()],
    bySource,
    outputs,
    groups: registry.groupsOf(entity).map((g) => g.name),
    fingerprint: fnv1a(JSON.stringify(layout)),
  };
}
