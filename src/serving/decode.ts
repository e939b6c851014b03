/**
 * Turns store replies into stored vectors: every stored feature decoded to its
 * type, or its training-time default when missing or corrupt. Never throws on
 * bad data; bad values are counted instead.
 */
import { decodeFeatureValue } from '../stores/codec.ts';
import type { StoredLayout } from '../stores/vector-layout.ts';
import { itemToVector } from '../stores/dynamo-item.ts';
import type { DynamoItem } from './dynamo-batch.ts';
import { FIRST_FEATURE, shareable, UPDATED_AT, VERSION_AT, type EntityPlan, type GroupPlan } from './plan.ts';
import type { HashReply } from './redis-batch.ts';
import type { ServedValue } from './types.ts';

/**
 * An entity's stored features before on-demand features are added; what the
 * cache holds. Shared between calls, so never mutated: lists (and `defaulted`)
 * are frozen and Float32Arrays are copied into each answer.
 */
export interface StoredVector {
  /** Stored feature values in the plan's `features` order. */
  readonly values: readonly ServedValue[];
  readonly defaulted: readonly string[];
  source: 'redis' | 'dynamodb' | 'default';
  /** Oldest write time among the stored parts, epoch ms. */
  updatedMs: number | undefined;
  version: number | undefined;
}

/** Defaulted values by reason, summed over a call and then counted once. */
export interface DefaultCounts {
  missing: number;
  corrupt: number;
  unavailable: number;
}

export function emptyCounts(): DefaultCounts {
  return { missing: 0, corrupt: 0, unavailable: 0 };
}

/** The `defaulted` list of a vector with every feature found: one frozen array shared by all. */
const NONE_DEFAULTED: readonly string[] = Object.freeze([]);

/** All defaults: nothing stored (`missing`) or no store answered (`unavailable`). */
export function defaultVector(plan: EntityPlan, counts: DefaultCounts, reason: 'missing' | 'unavailable'): StoredVector {
  counts[reason] += plan.featureNames.length;
  // plan.defaults and plan.featureNames are frozen (Float32Arrays are copied into each answer), so they are shared.
  return { values: plan.defaults, defaulted: plan.featureNames, source: 'default', updatedMs: undefined, version: undefined };
}

/** What the groups of one entity added up to, while decoding them. */
interface Tally {
  found: boolean;
  missing: number;
  corrupt: number;
  /** Oldest group write. */
  updatedMs: number | undefined;
  /** Highest group version. */
  version: number | undefined;
  /** Features served as defaults; undefined while there are none. */
  defaulted: string[] | undefined;
}

/** Reset for each entity: decoding is synchronous, so one tally serves every call. */
const tally: Tally = { found: false, missing: 0, corrupt: 0, updatedMs: undefined, version: undefined, defaulted: undefined };

function stamped(t: Tally, version: number, updatedMs: number): void {
  if (Number.isFinite(updatedMs)) t.updatedMs = t.updatedMs === undefined ? updatedMs : Math.min(t.updatedMs, updatedMs);
  if (Number.isSafeInteger(version)) t.version = t.version === undefined ? version : Math.max(t.version, version);
}

function addDefault(t: Tally, name: string, corrupt: boolean): void {
  (t.defaulted ??= []).push(name);
  if (corrupt) t.corrupt++;
  else t.missing++;
}

/**
 * Decodes one entity's group keys, `replies[start + g]` for group g, read in
 * `layout`. Undefined when no group key exists (a miss, for the caller to resolve).
 */
export function fromRedis(plan: EntityPlan, replies: readonly HashReply[], start: number, counts: DefaultCounts, layout: StoredLayout): StoredVector | undefined {
  const values = new Array<ServedValue>(plan.features.length);
  const t = tally;
  t.found = false;
  t.missing = 0;
  t.corrupt = 0;
  t.updatedMs = undefined;
  t.version = undefined;
  t.defaulted = undefined;
  const { groups } = plan;
  for (let g = 0; g < groups.length; g++) {
    if (layout !== 'fields') packedGroup(plan, groups[g]!, replies[start + g], values, t);
    else fieldsGroup(plan, groups[g]!, replies[start + g], values, t);
  }
  if (!t.found) return undefined;
  counts.missing += t.missing;
  counts.corrupt += t.corrupt;
  return { values, defaulted: t.defaulted === undefined ? NONE_DEFAULTED : Object.freeze(t.defaulted), source: 'redis', updatedMs: t.updatedMs, version: t.version };
}

/** The per-field layout: an HMGET row; a value the codec refuses is that feature's default, counted corrupt. */
function fieldsGroup(plan: EntityPlan, group: GroupPlan, reply: HashReply | undefined, values: ServedValue[], t: Tally): void {
  // A wrong-type key counts as corrupt; an absent hash (all nulls) as missing.
  const failed = reply instanceof Error;
  const row = reply === undefined || reply === null || failed || !Array.isArray(reply) || !anyValue(reply) ? undefined : reply;
  if (row !== undefined) {
    t.found = true;
    stamped(t, Number(text(row[VERSION_AT])), Number(text(row[UPDATED_AT])));
  }
  const { features, slots } = group;
  for (let f = 0; f < features.length; f++) {
    const feature = features[f]!;
    const raw = row?.[FIRST_FEATURE + f];
    const decoded = raw === undefined || raw === null ? undefined : decodeFeatureValue(feature, raw);
    if (decoded?.ok) {
      values[slots[f]!] = shareable(decoded.value);
      continue;
    }
    values[slots[f]!] = plan.defaults[slots[f]!] as ServedValue;
    addDefault(t, feature.name, decoded !== undefined || failed);
  }
}

/**
 * The packed layouts: one blob, decoded straight into the entity's values. An
 * unreadable blob (unknown format, truncated, garbage) or a wrong-type key
 * (a pipeline's or script's read; MGET answers nil for one) serves the
 * group's defaults, counted corrupt; an absent one, missing.
 */
function packedGroup(plan: EntityPlan, group: GroupPlan, reply: HashReply | undefined, values: ServedValue[], t: Tally): void {
  const blob = Buffer.isBuffer(reply) ? reply : undefined;
  const read = blob !== undefined && group.packed.readInto(blob, values, group.slots);
  const unreadable = reply instanceof Error || (blob !== undefined && !read);
  if (blob !== undefined) t.found = true;
  if (read) stamped(t, group.packed.version, group.packed.updatedMs);
  const { features, slots } = group;
  for (let f = 0; f < features.length; f++) {
    const slot = slots[f]!;
    if (read && values[slot] !== undefined) continue;
    values[slot] = plan.defaults[slot] as ServedValue;
    addDefault(t, features[f]!.name, unreadable);
  }
}

function text(raw: string | Buffer | null | undefined): string | undefined {
  return raw === undefined || raw === null || typeof raw === 'string' ? (raw ?? undefined) : raw.toString('utf8');
}

function anyValue(row: ReadonlyArray<string | Buffer | null>): boolean {
  for (const v of row) if (v !== null) return true;
  return false;
}

/** Decodes one entity's DynamoDB item; undefined when absent or expired. */
export function fromDynamo(plan: EntityPlan, item: DynamoItem | undefined, nowMs: number, counts: DefaultCounts): StoredVector | undefined {
  if (item === undefined) return undefined;
  const decoded = itemToVector(item, plan.features, nowMs);
  if (decoded === undefined) return undefined;
  const values = new Array<ServedValue>(plan.features.length);
  const defaulted: string[] = [];
  for (let i = 0; i < plan.features.length; i++) {
    const feature = plan.features[i]!;
    const value = decoded.features[feature.name];
    if (value === undefined) {
      values[i] = plan.defaults[i] as ServedValue;
      defaulted.push(feature.name);
    } else {
      values[i] = shareable(value);
    }
  }
  counts.corrupt += decoded.corrupt.length;
  counts.missing += defaulted.length - decoded.corrupt.length;
  return { values, defaulted: Object.freeze(defaulted), source: 'dynamodb', updatedMs: decoded.updatedMs, version: decoded.version };
}
