/**
 * Changed-fields writes. Next to each cached state the worker keeps, per
 * vector hash of the entity, when it last set the key's TTL and (per-field
 * layout) the encoded values the hash holds, so a write carries only what
 * changed and sets a TTL only when it is due:
 *
 *   - every write stamps every group key with the entity's new `_version` and
 *     `_updated_ms` (the DynamoDB sync and readers rely on one version per
 *     entity write), so an unchanged group still costs its write: the same
 *     blob in the packed layout (its header holds the stamp; one SET, TTL
 *     included), only `_version` and `_updated_ms` in the per-field layout,
 *     which sends only changed fields and deletes only fields the hash holds;
 *   - per field, a key's TTL is set again only when this worker set it more than SLACK
 *     ago, so a key lives at least TTL - SLACK after the entity's last write
 *     (and never longer than TTL); the script sets it anyway whenever a write
 *     creates the hash. SLACK = min(TTL / 16, 60 s): every feature lapses
 *     within TTL / 2 of its last event, so a key ending up to SLACK early
 *     drops no value;
 *   - the knowledge is used only while nobody else wrote the entity since: the
 *     version CAS proves it (the cache entry is dropped on every other outcome),
 *     or with co-partitioned sources the partition epoch does, and
 *     only within TTL / 2 of the last TTL this worker set, so the hash cannot
 *     have expired meanwhile.
 */
import type { VectorWrite } from '../stores/materialize-script.ts';

/** Encoded per-field values as the hash holds them. */
export type FieldValues = ReadonlyMap<string, string | Buffer>;

/** What this worker last left in one vector hash; times are this worker's clock (the batch time). */
export interface WrittenGroup {
  /** Per-field layout: every feature field the hash holds. */
  fields?: FieldValues;
  /** Last time the key's TTL was set. */
  ttlAtMs: number;
}

export interface WrittenEntity {
  /** Last time the state key's TTL was set. */
  stateTtlAtMs: number;
  groups: readonly WrittenGroup[];
}

const MAX_SLACK_MS = 60_000;

/** How long a TTL may go without being set again. */
export function slackMs(ttlMs: number): number {
  return Math.min(Math.floor(ttlMs / 16), MAX_SLACK_MS);
}

/** Whether `atMs` lies within `spanMs` before `nowMs` (a clock that went back counts as not). */
function within(atMs: number, nowMs: number, spanMs: number): boolean {
  const age = nowMs - atMs;
  return age >= 0 && age < spanMs;
}

/** Whether the state key's TTL must be set by this write. */
export function stateTtlDue(written: WrittenEntity | undefined, stateTtlMs: number, nowMs: number): boolean {
  return written === undefined || !within(written.stateTtlAtMs, nowMs, slackMs(stateTtlMs));
}

/** The layout-specific value of one group write. */
export type GroupValue = { kind: 'packed'; packed: Buffer } | { kind: 'fields'; set: ReadonlyArray<readonly [string, string | Buffer]>; del: readonly string[] };

export interface PlannedGroup {
  write: VectorWrite;
  /** What the hash holds once the write succeeded. */
  written: WrittenGroup;
  /** Whether any feature value was sent (per-field layout: false when only the stamp was). */
  changed: boolean;
}

function sameBytes(a: string | Buffer, b: string | Buffer): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return a.equals(b);
}

/**
 * One group's write given its new value and what this worker last left there
 * (undefined: nothing known, a full write). `value.set` lists every present
 * feature and `value.del` every absent one, as GroupCodec.fields returns them.
 */
export function planGroup(key: string, ttlMs: number, value: GroupValue, last: WrittenGroup | undefined, nowMs: number): PlannedGroup {
  if (value.kind === 'packed') {
    return { write: { key, ttlMs, kind: 'packed', packed: value.packed }, written: { ttlAtMs: nowMs }, changed: true };
  }
  const known = last !== undefined && within(last.ttlAtMs, nowMs, ttlMs / 2) ? last : undefined;
  const refreshTtl = known === undefined || !within(known.ttlAtMs, nowMs, slackMs(ttlMs));
  const ttlAtMs = refreshTtl ? nowMs : known.ttlAtMs;
  const fields = new Map(value.set);
  const before = known?.fields;
  if (before === undefined) {
    return { write: { key, ttlMs, refreshTtl, kind: 'fields', set: value.set, del: value.del }, written: { fields, ttlAtMs }, changed: true };
  }
  const set = value.set.filter(([name, encoded]) => {
    const old = before.get(name);
    return old === undefined || !sameBytes(old, encoded);
  });
  const del = value.del.filter((name) => before.has(name));
  return { write: { key, ttlMs, refreshTtl, kind: 'fields', set, del }, written: { fields, ttlAtMs }, changed: set.length > 0 || del.length > 0 };
}
