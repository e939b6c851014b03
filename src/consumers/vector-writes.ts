/**
 * Changed-fields writes. Next to each cached state the worker keeps what it
 * last wrote to each vector hash of the entity and when, so a write carries
 * only what changed and sets a TTL only when it is due:
 *
 *   - a group whose value is what this worker last wrote is left alone
 *     (`unchanged`) for up to SLACK after its last write; after that it is
 *     written again, so a hash's `_updated_ms` is never more than SLACK behind
 *     the entity's last write;
 *   - the per-field layout sends only the fields that changed;
 *   - a key's TTL is set again only when it was set more than SLACK ago, so a
 *     key lives at least TTL - SLACK after the last event (and never longer
 *     than TTL); the script sets it anyway when a write creates the hash;
 *   - SLACK = min(TTL / 16, 60 s): every feature lapses within TTL / 2 of its
 *     last event, so a key ending up to SLACK early drops no value;
 *   - the knowledge is used only while the CAS proves nobody else wrote the
 *     entity since (the cache entry is dropped on every other outcome), and
 *     only within TTL / 2 of the last TTL this worker set, so the hash cannot
 *     have expired meanwhile.
 */
import type { VectorWrite } from '../stores/materialize-script.ts';

/** Encoded per-field values as the hash holds them. */
export type FieldValues = ReadonlyMap<string, string | Buffer>;

/** What this worker last wrote to one vector hash; times are this worker's clock (the batch time). */
export interface WrittenGroup {
  /** Packed layout: the blob as sent (version and write time zeroed). */
  packed?: Buffer;
  /** Per-field layout: every feature field the hash holds. */
  fields?: FieldValues;
  /** Last write of the value (HSET: `_version`, `_updated_ms`). */
  writtenAtMs: number;
  /** Last time the key's TTL was set. */
  ttlAtMs: number;
}

export interface WrittenEntity {
  /** Last time the state key's TTL was set. */
  stateTtlAtMs: number;
  groups: readonly WrittenGroup[];
}

const MAX_SLACK_MS = 60_000;

/** How long a TTL or an unchanged value may go without being sent again. */
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
  /** What was sent, for the metrics. */
  sent: 'value' | 'ttl' | 'none';
}

function sameBytes(a: string | Buffer, b: string | Buffer): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return a.equals(b);
}

/**
 * One group's write given its new value and what this worker last wrote there
 * (undefined: nothing known, a full write). `value.set` lists every present
 * feature and `value.del` every absent one, as GroupCodec.fields returns them.
 */
export function planGroup(key: string, ttlMs: number, value: GroupValue, last: WrittenGroup | undefined, nowMs: number): PlannedGroup {
  const slack = slackMs(ttlMs);
  const known = last !== undefined && within(last.ttlAtMs, nowMs, ttlMs / 2) ? last : undefined;
  const refreshTtl = known === undefined || !within(known.ttlAtMs, nowMs, slack);
  const ttlAtMs = refreshTtl ? nowMs : known!.ttlAtMs;
  if (value.kind === 'packed') {
    const same = known?.packed !== undefined && known.packed.equals(value.packed);
    if (same && within(known.writtenAtMs, nowMs, slack)) return unchanged(key, ttlMs, refreshTtl, { ...known, ttlAtMs });
    return {
      write: { key, ttlMs, refreshTtl, kind: 'packed', packed: value.packed },
      written: { packed: value.packed, writtenAtMs: nowMs, ttlAtMs },
      sent: 'value',
    };
  }
  const fields = new Map(value.set);
  const before = known?.fields;
  if (before === undefined) {
    return { write: { key, ttlMs, refreshTtl, kind: 'fields', set: value.set, del: value.del }, written: { fields, writtenAtMs: nowMs, ttlAtMs }, sent: 'value' };
  }
  const set = value.set.filter(([name, encoded]) => {
    const old = before.get(name);
    return old === undefined || !sameBytes(old, encoded);
  });
  const del = value.del.filter((name) => before.has(name));
  if (set.length === 0 && del.length === 0 && within(known!.writtenAtMs, nowMs, slack)) return unchanged(key, ttlMs, refreshTtl, { ...known!, ttlAtMs });
  return { write: { key, ttlMs, refreshTtl, kind: 'fields', set, del }, written: { fields, writtenAtMs: nowMs, ttlAtMs }, sent: 'value' };
}

function unchanged(key: string, ttlMs: number, refreshTtl: boolean, written: WrittenGroup): PlannedGroup {
  return { write: { key, ttlMs, refreshTtl, kind: 'unchanged' }, written, sent: refreshTtl ? 'ttl' : 'none' };
}
