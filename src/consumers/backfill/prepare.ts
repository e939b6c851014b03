/**
 * Start of a backfill, fresh or resumed: find (or create) the record, choose
 * the target version, resolve start/end offsets by time, register the
 * version's layout and open the handover, and point the backfill group at its
 * start. Everything here is idempotent, so a kill at any point resumes.
 */
import { ConfigError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { Keys } from '../../stores/keys.ts';
import type { RedisClient } from '../../stores/redis.ts';
import type { Admin } from '../kafka-client.ts';
import { openHandover, publishPosition, readActiveVersion } from './handover.ts';
import { offsetsAt, prepareGroup, type Offsets } from './offsets.ts';
import { checkResumable, createRecord, loadRecord, type BackfillRecord } from './record.ts';

export interface PrepareOptions {
  redis: RedisClient;
  admin: Admin;
  keys: Keys;
  logger: Logger;
  fingerprint: string;
  topics: string[];
  since: 'earliest' | number;
  until?: number;
  handover: boolean;
  /** Default `featurestream-backfill-v<N>`. */
  groupId?: string;
  /** How long to wait for a killed predecessor to leave the group. */
  emptyGroupTimeoutMs: number;
}

export interface Prepared {
  record: BackfillRecord;
  /** Next offset per partition: committed, or the start offset. */
  positions: Offsets;
  resumed: boolean;
}

/** Never reuse a version: an abandoned build's keys (and their offset fences) may still be in Redis. */
async function nextVersion(redis: RedisClient, keys: Keys): Promise<{ version: number; from: number }> {
  const from = await readActiveVersion(redis, keys);
  const built = (await redis.hkeys(keys.layouts())).map(Number).filter(Number.isSafeInteger);
  return { version: Math.max(from, ...built) + 1, from };
}

export async function prepareBackfill(o: PrepareOptions): Promise<Prepared> {
  let record = await loadRecord(o.redis, o.keys);
  const resumed = record !== undefined;
  if (record) {
    checkResumable(record, o.fingerprint, o.topics);
    o.logger.info({ version: record.version, groupId: record.groupId, phase: record.phase }, 'resuming backfill');
  } else {
    const { version, from } = await nextVersion(o.redis, o.keys);
    const start = await offsetsAt(o.admin, o.topics, o.since);
    const end = o.until === undefined ? undefined : await offsetsAt(o.admin, o.topics, o.until);
    if (end && Object.entries(start).some(([tp, s]) => s > end[tp]!)) throw new ConfigError('--to is before --from');
    record = await createRecord(o.redis, o.keys, {
      version,
      from,
      groupId: o.groupId ?? `featurestream-backfill-v${version}`,
      fingerprint: o.fingerprint,
      topics: o.topics,
      since: o.since === 'earliest' ? 'earliest' : new Date(o.since).toISOString(),
      ...(o.until === undefined ? {} : { until: new Date(o.until).toISOString() }),
      start,
      ...(end ? { end } : {}),
      handover: o.handover,
      phase: 'replaying',
      createdAt: new Date().toISOString(),
    });
    checkResumable(record, o.fingerprint, o.topics);
  }
  if (record.handover) await openHandover(o.redis, o.keys, { ...record, fresh: !resumed });
  else await o.redis.hset(o.keys.layouts(), String(record.version), record.fingerprint);
  const positions = await prepareGroup(o.admin, record.groupId, record.topics, record.start, { logger: o.logger, timeoutMs: o.emptyGroupTimeoutMs });
  if (record.handover) {
    // Everything before a partition's position is in the target version already (or deliberately before --from).
    for (const [tp, next] of Object.entries(positions)) {
      const at = tp.lastIndexOf(':');
      await publishPosition(o.redis, o.keys, record.version, tp.slice(0, at), Number(tp.slice(at + 1)), next);
    }
  }
  return { record, positions, resumed };
}
