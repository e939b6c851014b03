/**
 * Turns store replies into stored vectors: every stored feature decoded to its
 * type, or its training-time default when missing or corrupt. Never throws on
 * bad data; bad values are counted instead.
 */
import { decodeFeatureValue } from '../stores/codec.ts';
import { itemToVector } from '../stores/dynamo-item.ts';
import type { VectorLayout } from '../schemas/registry-input.ts';
import type { DynamoItem } from './dynamo-batch.ts';
import { FIRST_FEATURE, shareable, UPDATED_AT, VERSION_AT, type EntityPlan } from './plan.ts';
import type { HashReply } from './redis-batch.ts';
import type { ServedValue } from './types.ts';

/**
 * An entity's stored features before on-demand features are added; what the
 * cache holds. Shared between calls, so never mutated: lists are frozen and
 * Float32Arrays are copied into each answer.
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

/** All defaults: nothing stored (`missing`) or no store answered (`unavailable`). */
export function defaultVector(plan: EntityPlan, counts: DefaultCounts, reason: 'missing' | 'unavailable'): StoredVector {
  counts[reason] += plan.featureNames.length;
  // plan.defaults is frozen and its Float32Arrays are copied into each answer, so it is shared.
  return { values: plan.defaults, defaulted: [...plan.featureNames], source: 'default', updatedMs: undefined, version: undefined };
}

/**
 * Decodes one entity's group hashes, `replies[start + g]` for group g, read in
 * `layout`. Undefined when no group hash exists (a miss, for the caller to resolve).
 */
export function fromRedis(plan: EntityPlan, replies: readonly HashReply[], start: number, counts: DefaultCounts, layout: VectorLayout): StoredVector | undefined {
  if (layout === 'packed') return fromPacked(plan, replies, start, counts);
  const values = new Array<ServedValue>(plan.features.length);
  const defaulted: string[] = [];
  let found = false;
  let missing = 0;
  let corrupt = 0;
  let updatedMs: number | undefined;
  let version: number | undefined;
  for (let g = 0; g < plan.groups.length; g++) {
    const group = plan.groups[g]!;
    const reply = replies[start + g];
    // A wrong-type key counts as corrupt; an absent hash (all nulls) as missing.
    const failed = reply instanceof Error;
    const row = reply === undefined || reply === null || failed || !Array.isArray(reply) || !anyValue(reply) ? undefined : reply;
    if (row !== undefined) {
      found = true;
      const written = Number(text(row[UPDATED_AT]));
      if (Number.isFinite(written)) updatedMs = updatedMs === undefined ? written : Math.min(updatedMs, written);
      const v = Number(text(row[VERSION_AT]));
      if (Number.isSafeInteger(v)) version = version === undefined ? v : Math.max(version, v);
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
      defaulted.push(feature.name);
      if (decoded !== undefined || failed) corrupt++;
      else missing++;
    }
  }
  if (!found) return undefined;
  counts.missing += missing;
  counts.corrupt += corrupt;
  return { values, defaulted, source: 'redis', updatedMs, version };
}

/**
 * The packed layout: one blob per group. An unreadable blob (unknown format,
 * truncated, garbage) or a wrong-type key serves that group's defaults, counted corrupt.
 */
function fromPacked(plan: EntityPlan, replies: readonly HashReply[], start: number, counts: DefaultCounts): StoredVector | undefined {
  const values = new Array<ServedValue>(plan.features.length);
  const defaulted: string[] = [];
  let found = false;
  let missing = 0;
  let corrupt = 0;
  let updatedMs: number | undefined;
  let version: number | undefined;
  for (let g = 0; g < plan.groups.length; g++) {
    const group = plan.groups[g]!;
    const reply = replies[start + g];
    // A wrong-type key counts as corrupt; an absent hash or field as missing.
    const blob = Buffer.isBuffer(reply) ? reply : undefined;
    const read = blob === undefined ? undefined : group.packed.read(blob);
    const unreadable = reply instanceof Error || (blob !== undefined && read === undefined);
    if (blob !== undefined) found = true;
    if (read !== undefined) {
      updatedMs = updatedMs === undefined ? read.updatedMs : Math.min(updatedMs, read.updatedMs);
      version = version === undefined ? read.version : Math.max(version, read.version);
    }
    const { features, slots } = group;
    for (let f = 0; f < features.length; f++) {
      const value = read?.values[f];
      if (value !== undefined) {
        values[slots[f]!] = shareable(value);
        continue;
      }
      values[slots[f]!] = plan.defaults[slots[f]!] as ServedValue;
      defaulted.push(features[f]!.name);
      if (unreadable) corrupt++;
      else missing++;
    }
  }
  if (!found) return undefined;
  counts.missing += missing;
  counts.corrupt += corrupt;
  return { values, defaulted, source: 'redis', updatedMs, version };
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
  return { values, defaulted, source: 'dynamodb', updatedMs: decoded.updatedMs, version: decoded.version };
}
