/**
 * Versioned last-writer-wins PutItem. The condition makes the write a no-op
 * when DynamoDB already holds this version or a newer one, so concurrent,
 * late and repeated sync jobs can never move an item backwards. An expired item
 * (DynamoDB deletes them days late) loses to any write: an entity that returns
 * after its TTL starts its versions again.
 */
import { PutItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
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
