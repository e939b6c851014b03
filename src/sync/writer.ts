/**
 * Versioned last-writer-wins PutItem. The condition makes the write a no-op
 * when DynamoDB already holds this version or a newer one, so concurrent,
 * late and repeated sync jobs can never move an item backwards. An expired item
 * (DynamoDB deletes them days late) loses to any write: an entity that returns
 * after its TTL starts its versions again. Deletes are for recovery only: the
 * items of entities it rebuilds from Kafka (consumers/recovery-restore.ts).
 */
import { BatchWriteItemCommand, PutItemCommand, type AttributeValue, type DynamoDBClient, type WriteRequest } from '@aws-sdk/client-dynamodb';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceUnavailableError } from '../errors.ts';
import { syncBackoffMs } from './backoff.ts';
import { DYNAMO_PARTITION_KEY } from '../stores/keys.ts';
import { ITEM_ATTRIBUTES } from '../stores/dynamo-item.ts';

export type PutOutcome = { kind: 'written' } | { kind: 'skipped' } | { kind: 'failed'; error: Error; retriable: boolean };

/** Errors no retry can fix: the request itself is wrong (item too large, bad attribute). */
const PERMANENT = new Set(['ValidationException', 'SerializationException', 'ItemCollectionSizeLimitExceededException']);

export async function putIfNewer(client: DynamoDBClient, table: string, item: Record<string, AttributeValue>): Promise<PutOutcome> {
  try {
    await client.send(
      new PutItemCommand({
        TableName: table,
        Item: item,
        ConditionExpression: 'attribute_not_exists(#pk) OR #v < :v OR #exp < :now',
        ExpressionAttributeNames: { '#pk': DYNAMO_PARTITION_KEY, '#v': ITEM_ATTRIBUTES.version, '#exp': ITEM_ATTRIBUTES.expiresAt },
        ExpressionAttributeValues: { ':v': item[ITEM_ATTRIBUTES.version]!, ':now': { N: String(Math.floor(Date.now() / 1000)) } },
      }),
    );
    return { kind: 'written' };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    if (error.name === 'ConditionalCheckFailedException') return { kind: 'skipped' };
    // Throttling, 5xx, timeouts, refused connections and anything unknown: retry later (attempts are bounded).
    return { kind: 'failed', error, retriable: !PERMANENT.has(error.name) };
  }
}

/** BatchWriteItem's most requests per call. */
const BATCH_LIMIT = 25;
const DELETE_ATTEMPTS = 8;
/** Unprocessed deletes (throttling) retry quickly: a recovery waits on them. */
const DELETE_BACKOFF = { baseMs: 50, capMs: 2_000 };

/**
 * Deletes the items of `pks` (a missing one is a no-op), 25 per BatchWriteItem,
 * sending unprocessed ones again with the sync's jittered backoff. Throws a retriable
 * ServiceUnavailableError when DynamoDB fails or keeps items unprocessed.
 */
export async function deleteItems(client: DynamoDBClient, table: string, pks: readonly string[]): Promise<void> {
  for (let i = 0; i < pks.length; i += BATCH_LIMIT) {
    let requests: WriteRequest[] = pks.slice(i, i + BATCH_LIMIT).map((pk) => ({ DeleteRequest: { Key: { [DYNAMO_PARTITION_KEY]: { S: pk } } } }));
    for (let attempt = 1; requests.length > 0; attempt++) {
      if (attempt > DELETE_ATTEMPTS) throw new ServiceUnavailableError('dynamodb', `${requests.length} item deletes still unprocessed after ${DELETE_ATTEMPTS} attempts`);
      if (attempt > 1) await sleep(syncBackoffMs(attempt - 1, DELETE_BACKOFF));
      try {
        const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: requests } }));
        requests = out.UnprocessedItems?.[table] ?? [];
      } catch (err) {
        throw new ServiceUnavailableError('dynamodb', `item deletes failed: ${(err as Error).message}`, { cause: err });
      }
    }
  }
}
