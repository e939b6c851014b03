/**
 * Redis side of a keyspace handover, shared by the backfill and the live
 * workers (see versions.ts). Three keys, all from keys.ts:
 *   fs:layouts   version -> registry fingerprint: a worker writes only versions built for its registry;
 *                readers take each version's vector layout from it
 *   fs:handover  while version N takes over: `version`, `from`,
 *                `p:<N>:<topic>:<partition>` = the backfill's next offset (everything before it is in N),
 *                `s:<N>:<topic>:<partition>` = a live worker writes this partition into N from now on
 *                (fields carry N: a late write from an earlier handover can never count for a later one)
 *   fs:active_version  the pointer readers follow (absent = 1)
 * and the backfill record (record.ts): the backfill writes its version until it deletes the record,
 * a few seconds after the handover closed; until then live workers write that version's states
 * through, never write-behind (versions.ts underHandover).
 */
import { createHash } from 'node:crypto';
import type { Registry } from '../../schemas/registry.ts';
import type { Keys } from '../../stores/keys.ts';
import type { RedisClient } from '../../stores/redis.ts';
import { fingerprintWithLayout } from '../../stores/vector-layout.ts';

export interface Handover {
  version: number;
  from: number;
  positions: Map<string, number>;
  switched: Set<string>;
}

/** What a worker decides from; read in one pipeline. */
export interface VersionView {
  active: number;
  handover: Handover | undefined;
  layouts: Map<number, string>;
  /**
   * The version a backfill record (record.ts) names: the backfill may write it until it deletes the
   * record after its last batch, which is after the handover closed (it tails a few seconds more).
   */
  backfilling: number | undefined;
}

export function topicPartition(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}

/**
 * Identifies the state and vector layout a registry produces. Sources are
 * named without their schemas (zod objects do not serialize); a schema change
 * that keeps the fields does not change the state bytes. The vector layout is
 * a suffix readers can parse (stores/vector-layout.ts); the per-field layout
 * adds none, so its fingerprints are those recorded before layouts existed.
 */
export function layoutFingerprint(registry: Registry): string {
  const sources = registry.sources.map((s) => [s.name, s.topic, s.entity, s.keyField, s.timeField, s.idField]);
  const json = JSON.stringify({ entities: registry.entities, sources, features: registry.features, groups: registry.groups });
  return fingerprintWithLayout(createHash('sha1').update(json).digest('hex').slice(0, 16), registry.layout);
}

function positiveInt(raw: string | null | undefined): number | undefined {
  if (raw === null || raw === undefined) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}

/** Undefined also for a record no backfill could run from (it refuses to start on one). */
function recordVersion(raw: string | null): number | undefined {
  if (raw === null) return undefined;
  try {
    return positiveInt(String((JSON.parse(raw) as { version?: unknown }).version));
  } catch {
    return undefined;
  }
}

export function parseHandover(hash: Record<string, string>): Handover | undefined {
  const version = positiveInt(hash.version);
  const from = positiveInt(hash.from);
  if (version === undefined || from === undefined) return undefined;
  const positions = new Map<string, number>();
  const switched = new Set<string>();
  const p = `p:${version}:`;
  const s = `s:${version}:`;
  for (const [field, value] of Object.entries(hash)) {
    if (field.startsWith(p)) positions.set(field.slice(p.length), Number(value));
    else if (field.startsWith(s)) switched.add(field.slice(s.length));
  }
  return { version, from, positions, switched };
}

/**
 * Handover before pointer: the backfill opens the handover before it moves the
 * pointer and closes it after, so reading in this order never pairs a moved
 * pointer with a handover that has not opened yet. Separate commands, not one
 * pipeline: on a Cluster the three keys live in different slots.
 */
export async function readVersionView(redis: RedisClient, keys: Keys): Promise<VersionView> {
  const handover = await redis.hgetall(keys.handover());
  const [active, layouts, record] = await Promise.all([redis.get(keys.activeVersion()), redis.hgetall(keys.layouts()), redis.get(keys.backfill())]);
  return {
    active: positiveInt(active) ?? 1,
    handover: parseHandover(handover),
    layouts: new Map(Object.entries(layouts).map(([v, fp]) => [Number(v), fp])),
    backfilling: recordVersion(record),
  };
}

export async function readActiveVersion(redis: RedisClient, keys: Keys): Promise<number> {
  return positiveInt(await redis.get(keys.activeVersion())) ?? 1;
}

/**
 * Opens the handover of `version` (a resume keeps what is there): its layout
 * first, so no worker of another registry ever writes it.
 */
export async function openHandover(redis: RedisClient, keys: Keys, o: { version: number; from: number; fingerprint: string; fresh: boolean }): Promise<void> {
  await redis.hset(keys.layouts(), String(o.version), o.fingerprint);
  if (o.fresh) await redis.del(keys.handover());
  await redis.hset(keys.handover(), 'version', String(o.version), 'from', String(o.from));
}

export async function publishPosition(redis: RedisClient, keys: Keys, version: number, topic: string, partition: number, nextOffset: number): Promise<void> {
  await redis.hset(keys.handover(), `p:${version}:${topicPartition(topic, partition)}`, String(nextOffset));
}

export async function markSwitched(redis: RedisClient, keys: Keys, version: number, topic: string, partition: number): Promise<void> {
  await redis.hset(keys.handover(), `s:${version}:${topicPartition(topic, partition)}`, '1');
}

/**
 * Pure: whether partition `tp` needs the handover no longer. Either a live worker switched it (it
 * writes N from a batch that started within N), or the live group is idle at the partition's end
 * at or before the backfill's published position: its next batch then starts within N, by the
 * position the live workers decide from. `committed` must be read before `end`: a live batch in
 * flight (committed or not, into either version) then shows as end > committed, since its
 * messages exist.
 */
export function handedOver(h: Handover, tp: string, committed: number, end: number): boolean {
  if (h.switched.has(tp)) return true;
  const at = Math.max(0, committed);
  return at >= end && at <= (h.positions.get(tp) ?? -1);
}

/** Workers whose view of a closed handover is stale may still mark a switch for up to a cache period. */
const TOMBSTONE_MS = 60_000;

/**
 * Ends the handover. Replaced by a short-lived tombstone rather than deleted,
 * so a late `s:` write from a stale worker lands there (ignored: no `version`)
 * and expires, instead of recreating a hash that lives forever.
 */
export async function closeHandover(redis: RedisClient, keys: Keys): Promise<void> {
  await redis.multi().del(keys.handover()).hset(keys.handover(), 'closed', String(Date.now())).pexpire(keys.handover(), TOMBSTONE_MS).exec();
}
