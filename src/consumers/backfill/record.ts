/**
 * The backfill record (`keys.backfill()`): what a restarted backfill needs to
 * continue the same build: target version, consumer group, resolved start and
 * end offsets, and whether the pointer already moved. Written once before any
 * replay, updated once at the switch, deleted when the handover completes.
 */
import { z } from 'zod';
import { ConfigError, StateCorruptError } from '../../errors.ts';
import type { Keys } from '../../stores/keys.ts';
import type { RedisClient } from '../../stores/redis.ts';

const offsetsSchema = z.record(z.string(), z.number().int().min(0));

const recordSchema = z.object({
  version: z.number().int().min(2),
  from: z.number().int().min(1),
  groupId: z.string().min(1),
  fingerprint: z.string().min(1),
  topics: z.array(z.string().min(1)).min(1),
  /** `earliest` or an ISO time, as given. */
  since: z.string(),
  until: z.string().optional(),
  /** `topic:partition` -> first offset to replay. */
  start: offsetsSchema,
  /** `topic:partition` -> exclusive end offset; absent = replay to the live end and hand over. */
  end: offsetsSchema.optional(),
  handover: z.boolean(),
  phase: z.enum(['replaying', 'switched']),
  createdAt: z.string(),
});

export type BackfillRecord = z.infer<typeof recordSchema>;

export async function loadRecord(redis: RedisClient, keys: Keys): Promise<BackfillRecord | undefined> {
  const raw = await redis.get(keys.backfill());
  if (raw === null) return undefined;
  const parsed = recordSchema.safeParse(JSON.parse(raw));
  if (!parsed.success) throw new StateCorruptError(`backfill record ${keys.backfill()} is invalid: ${parsed.error.message}`);
  return parsed.data;
}

/** Creates the record unless one exists (another process won the race): the existing one is returned then. */
export async function createRecord(redis: RedisClient, keys: Keys, record: BackfillRecord): Promise<BackfillRecord> {
  const created = await redis.set(keys.backfill(), JSON.stringify(record), 'NX');
  if (created === 'OK') return record;
  const existing = await loadRecord(redis, keys);
  if (!existing) throw new StateCorruptError(`backfill record ${keys.backfill()} vanished while being created`);
  return existing;
}

export async function saveRecord(redis: RedisClient, keys: Keys, record: BackfillRecord): Promise<void> {
  await redis.set(keys.backfill(), JSON.stringify(record));
}

export async function deleteRecord(redis: RedisClient, keys: Keys): Promise<void> {
  await redis.del(keys.backfill());
}

/** A resumed backfill must be the same build: a different registry would mix layouts in one version. */
export function checkResumable(record: BackfillRecord, fingerprint: string, topics: string[]): void {
  if (record.fingerprint !== fingerprint) {
    throw new ConfigError(
      `a backfill of version ${record.version} with another registry is in progress (group ${record.groupId}); resume it with the same --config`,
    );
  }
  const same = record.topics.length === topics.length && record.topics.every((t) => topics.includes(t));
  if (!same) throw new ConfigError(`the backfill in progress replays --topics ${record.topics.join(',')}; resume it with the same topics`);
}
