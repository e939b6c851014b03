/**
 * The heavy half of a recovery after a Redis master lost everything: put the
 * durable keyspace pointer back, drop what was written onto the empty master
 * before the loss was seen (from Redis, and the sync's copy of it from
 * DynamoDB), restore entity states, vectors, fences and timers
 * from DynamoDB (rewarm), and compute where each partition must replay from.
 *
 * Replay start of a partition = min(its current position, max(log start, the
 * offset at now - the registry's longest state horizon)). The horizon is the
 * longest state TTL (longest window or vector TTL plus the state margin): an
 * entity whose events are all older than that has no state to lose. Replayed
 * events an entity's restored fence already covers are skipped, so the replay
 * only re-applies what DynamoDB had not received yet. It costs one read of the
 * horizon's worth of the topics (bounded by Kafka retention: events already
 * deleted from Kafka and not yet synced to DynamoDB cannot come back).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { WindowEngine } from '../aggregations/engine.ts';
import type { Logger } from '../logger.ts';
import type { Registry } from '../schemas/registry.ts';
import type { EntityRef, Keys } from '../stores/keys.ts';
import type { RedisClient } from '../stores/redis.ts';
import { perEntity } from '../sync/pipeline.ts';
import { rewarm, type RewarmSummary } from '../sync/rewarm.ts';
import { SyncLayout } from '../sync/snapshot.ts';
import { deleteItems } from '../sync/writer.ts';
import type { Admin } from './kafka-client.ts';
import { EntityLayout } from './entity-layout.ts';
import { readActiveVersion, topicPartition } from './backfill/handover.ts';
import { restoreKeyspaceRecord } from './backfill/keyspace-record.ts';
import { committedOffsets, offsetsAt } from './backfill/offsets.ts';

export interface RestoreDeps {
  redis: RedisClient;
  keys: Keys;
  registry: Registry;
  engine: Pick<WindowEngine, 'deserialize' | 'nextChangeAt'>;
  dynamo: DynamoDBClient;
  table: string;
  admin: Admin;
  groupId: string;
  topics: string[];
  clock: () => number;
  logger: Logger;
}

export interface Suspect {
  ref: EntityRef;
  version: number;
}

/** The longest state TTL of any entity type: how far back a replay must reach. */
export function stateHorizonMs(registry: Registry): number {
  const layout = new EntityLayout(registry);
  let longest = 0;
  for (const group of registry.groups) longest = Math.max(longest, layout.entity(group.entity).stateTtlMs);
  return longest;
}

/**
 * Restores Redis for the active keyspace version; returns the version restored
 * and the rewarm summary. `suspects` are entities a batch wrote after the loss
 * (built from an empty state): deleted and not restored, so the replay from
 * the horizon rebuilds them whole instead of keeping a state that misses its history.
 */
export async function restoreFromDynamo(
  d: Pick<RestoreDeps, 'redis' | 'keys' | 'registry' | 'engine' | 'dynamo' | 'table' | 'clock' | 'logger'>,
  suspects: readonly Suspect[],
): Promise<{ version: number; summary: RewarmSummary }> {
  await restoreKeyspaceRecord(d.redis, d.keys, d);
  const version = await readActiveVersion(d.redis, d.keys);
  await dropSuspects(d, suspects);
  const layout = new SyncLayout(d.registry);
  // A suspect's DynamoDB item may already hold the state built on the empty master (the sync ships
  // what Redis holds, and a time-derived version beats the item's): rebuilt from the replay instead.
  // Deleted too, not just skipped: a second loss before the replay's rebuild reached DynamoDB would
  // otherwise restore it, and its fences would make that replay skip the history it misses. After
  // the rewarm, so a sync put that read the state before it left Redis has landed by then.
  const pks = [...new Set(suspects.map((x) => d.keys.dynamoPk(x.ref, x.version)))];
  const summary = await rewarm({ redis: d.redis, dynamo: d.dynamo, table: d.table, keys: d.keys, layout, engine: d.engine, keyspaceVersion: version, clock: d.clock, exclude: new Set(pks) });
  await deleteItems(d.dynamo, d.table, pks);
  return { version, summary };
}

async function dropSuspects(d: Pick<RestoreDeps, 'redis' | 'registry' | 'keys'>, suspects: readonly Suspect[]): Promise<void> {
  const groups = new Map(d.registry.entities.map((e) => [e.name, d.registry.groupsOf(e.name)]));
  await perEntity(d.redis, suspects.length, (pipeline, i) => {
    const { ref, version } = suspects[i]!;
    const vectors = (groups.get(ref.entityType) ?? []).map((g) => d.keys.vector(ref, g.name, version));
    pipeline.del(d.keys.state(ref, version), ...vectors);
  });
}

export interface PartitionPosition {
  topic: string;
  partition: number;
  /** Where the partition would read next: the batch in hand, else the group's commit, else the log start. */
  position: number;
  /** Replay start after a total loss: min(position, max(log start, offset at now - state horizon)). */
  horizonStart: number;
}

/** For every topic and partition number of `partitions`; `positions` (by topic:partition) overrides the commit. */
export async function partitionPositions(d: RestoreDeps, partitions: ReadonlySet<number>, positions: ReadonlyMap<string, number>): Promise<PartitionPosition[]> {
  const horizonAt = d.clock() - stateHorizonMs(d.registry);
  const [low, byTime, committed] = await Promise.all([
    offsetsAt(d.admin, d.topics, 'earliest'),
    offsetsAt(d.admin, d.topics, horizonAt),
    committedOffsets(d.admin, d.groupId, d.topics),
  ]);
  const out: PartitionPosition[] = [];
  for (const topic of d.topics) {
    for (const partition of partitions) {
      const tp = topicPartition(topic, partition);
      const first = low[tp];
      if (first === undefined) continue;
      const done = committed[tp];
      const position = positions.get(tp) ?? (done !== undefined && done >= 0 ? done : first);
      out.push({ topic, partition, position, horizonStart: Math.min(position, Math.max(first, byTime[tp] ?? first)) });
    }
  }
  return out;
}
