/**
 * Quarantine of one broken entity (undecodable state, a value the codec
 * rejects, a store rejection for its keys): its state is rebuilt from its
 * DynamoDB copy when one exists (the item's `state` and `_offsets`), else its
 * events are dead-lettered with the error's code. Either way the rest of the
 * batch and the partition flow on.
 */
import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FeaturestreamError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { workerMetrics } from '../metrics.ts';
import { ITEM_ATTRIBUTES } from '../stores/dynamo-item.ts';
import { timerMember } from '../stores/entity-state.ts';
import type { EntityRef, Keys } from '../stores/keys.ts';
import { NodePipelines } from '../stores/node-pipelines.ts';
import { classifyRedisError, type RedisClient } from '../stores/redis.ts';
import { itemOffsets } from '../sync/item.ts';
import type { DeadLetter } from './dead-letter.ts';
import type { EntityWork } from './materializer.ts';

export interface RebuiltState {
  bytes: Uint8Array;
  offsets: Map<string, number>;
}

/** Where a quarantined entity's last good state may come from. */
export interface StateSource {
  fetch(ref: EntityRef, keyspaceVersion: number): Promise<RebuiltState | undefined>;
}

/** The DynamoDB copy the sync keeps (consistent GetItem); undefined without a usable state. */
export function dynamoStateSource(client: DynamoDBClient, table: string, keys: Keys): StateSource {
  return {
    async fetch(ref, keyspaceVersion) {
      let item;
      try {
        ({ Item: item } = await client.send(new GetItemCommand({ TableName: table, Key: keys.dynamoKey(ref, keyspaceVersion), ConsistentRead: true })));
      } catch {
        // No copy to be had now: the entity's events are dead-lettered instead, nothing is lost.
        return undefined;
      }
      const bytes = item?.[ITEM_ATTRIBUTES.state]?.B;
      if (!item || !bytes) return undefined;
      return { bytes, offsets: itemOffsets(item) };
    },
  };
}

/** The error an entity is quarantined for, as a non-retriable FeaturestreamError with a dead-letter code. */
export function quarantineError(err: unknown, stateKey: string): FeaturestreamError {
  if (err instanceof FeaturestreamError) return err;
  const message = err instanceof Error ? err.message : String(err);
  // Anything else thrown while planning one entity (the codec refusing a value, a decode bug) is that entity's.
  return new FeaturestreamError('STATE_CORRUPT', `${stateKey}: ${message}`, false, { cause: err });
}

/** An entity whose work failed for a reason tied to it alone. */
export interface Broken {
  work: EntityWork;
  error: FeaturestreamError;
}

export interface QuarantineDeps {
  redis: RedisClient;
  keys: Keys;
  logger: Logger;
  stateSource?: StateSource;
}

/**
 * Broken entities: those with a last good copy get it in `rebuilt` and are returned, to be
 * written over their hashes next round; the others (or a rebuilt one that broke again) have
 * their events dead-lettered and their due timer dropped.
 */
export async function quarantine(
  d: QuarantineDeps,
  broken: readonly Broken[],
  keyspaceVersion: number,
  rebuilt: Map<string, RebuiltState>,
  deadLetter: (letters: DeadLetter[]) => Promise<void>,
): Promise<EntityWork[]> {
  const again: EntityWork[] = [];
  const letters: DeadLetter[] = [];
  const unscheduled = new NodePipelines(d.redis);
  for (const { work, error } of broken) {
    const key = d.keys.state(work.ref, keyspaceVersion);
    const copy = rebuilt.has(key) ? undefined : await d.stateSource?.fetch(work.ref, keyspaceVersion);
    if (copy) {
      rebuilt.set(key, copy);
      workerMetrics.quarantined.inc({ outcome: 'rebuilt' });
      d.logger.warn({ err: error, key }, 'entity quarantined: rebuilding its state from the DynamoDB copy');
      again.push(work);
      continue;
    }
    rebuilt.delete(key);
    // A broken entity's due timer would fail every tick; its next event schedules it again (ZADD LT adds).
    if (work.timerDue !== undefined) {
      const timers = d.keys.timers(work.partition, keyspaceVersion);
      unscheduled.queue(timers, (p) => p.zrem(timers, timerMember(work.ref.entityType, work.ref.entityId)));
    }
    workerMetrics.quarantined.inc({ outcome: 'dead_lettered' });
    d.logger.warn({ err: error, key, events: work.events.length }, 'entity quarantined: its events go to the dead-letter topic');
    if (work.topic !== undefined) {
      for (const e of work.events) letters.push({ topic: work.topic, partition: work.partition, message: e.message, error });
    }
  }
  await deadLetter(letters);
  if (unscheduled.length > 0) for (const [err] of await unscheduled.exec()) if (err) throw classifyRedisError(err);
  return again;
}
