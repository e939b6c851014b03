/**
 * The durable keyspace pointer: the backfill's switch copies the active
 * version and the version -> layout record from Redis into one reserved
 * DynamoDB item (layout in stores/dynamo-item.ts), and recovery or rewarm put
 * them back when Redis lost them. Without it a Redis loss silently moved
 * readers and workers back to version 1 (an absent pointer means 1).
 */
import { GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ServiceUnavailableError } from '../../errors.ts';
import { itemToKeyspaceRecord, keyspaceRecordToItem, type KeyspaceRecord } from '../../stores/dynamo-item.ts';
import { DYNAMO_PARTITION_KEY, type Keys } from '../../stores/keys.ts';
import type { RedisClient } from '../../stores/redis.ts';
import { readVersionView } from './handover.ts';

export interface KeyspaceStore {
  dynamo: DynamoDBClient;
  table: string;
}

/** Copies Redis's current pointer and layouts to DynamoDB (after a switch). */
export async function saveKeyspaceRecord(redis: RedisClient, keys: Keys, store: KeyspaceStore, nowMs = Date.now()): Promise<KeyspaceRecord> {
  const view = await readVersionView(redis, keys);
  const record = { active: view.active, layouts: view.layouts };
  await dynamoCall(() => store.dynamo.send(new PutItemCommand({ TableName: store.table, Item: keyspaceRecordToItem(keys, record, nowMs) })));
  return record;
}

export async function loadKeyspaceRecord(keys: Keys, store: KeyspaceStore): Promise<KeyspaceRecord | undefined> {
  const reply = await dynamoCall(() =>
    store.dynamo.send(new GetItemCommand({ TableName: store.table, Key: { [DYNAMO_PARTITION_KEY]: { S: keys.dynamoKeyspacePk() } }, ConsistentRead: true })),
  );
  return itemToKeyspaceRecord(reply.Item);
}

/**
 * Puts the durable pointer and layouts back into Redis where Redis has none:
 * SET NX / HSETNX, so a pointer a backfill moved since (or a worker's own
 * registration) is never overwritten. Returns the record found, if any.
 */
export async function restoreKeyspaceRecord(redis: RedisClient, keys: Keys, store: KeyspaceStore): Promise<KeyspaceRecord | undefined> {
  const record = await loadKeyspaceRecord(keys, store);
  if (!record) return undefined;
  // Separate commands: on a Cluster the two keys live in different slots.
  for (const [version, fingerprint] of record.layouts) await redis.hsetnx(keys.layouts(), String(version), fingerprint);
  if (record.active > 1) await redis.set(keys.activeVersion(), String(record.active), 'NX');
  return record;
}

async function dynamoCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw new ServiceUnavailableError('dynamodb', `keyspace record: ${(err as Error).message}`, { cause: err });
  }
}
