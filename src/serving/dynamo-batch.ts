import { BatchGetItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DYNAMO_PARTITION_KEY } from '../stores/keys.ts';
import { delay } from './deadline.ts';

/** BatchGetItem's per-request key limit. */
export const BATCH_GET_LIMIT = 100;

export type DynamoItem = Record<string, AttributeValue>;

export interface BatchGetResult {
  /** Items found, by partition key. */
  items: Map<string, DynamoItem>;
  /** Keys not read before an error or the deadline: unknown, not absent. */
  unresolved: Set<string>;
  /** The first error met, if any (the other chunks still count). */
  error?: unknown;
}

export interface BatchGetOptions {
  table: string;
  projection?: { expression: string; names: Record<string, string> };
  /** Cancels in-flight requests and stops retrying when the caller's deadline passes. */
  signal: AbortSignal;
  /** First retry delay for UnprocessedKeys; doubles per attempt, with full jitter. */
  backoffMs?: number;
}

/**
 * Reads items by partition key in chunks of 100 sent in parallel. Keys
 * DynamoDB returns as UnprocessedKeys (throttling, 16 MB response cap) are
 * retried with exponential backoff until they are read or `signal` aborts.
 * Never throws: a failed chunk's keys land in `unresolved` and the chunks
 * that succeeded still count.
 */
export async function batchGetItems(client: DynamoDBClient, pks: readonly string[], options: BatchGetOptions): Promise<BatchGetResult> {
  const result: BatchGetResult = { items: new Map(), unresolved: new Set() };
  const chunks: string[][] = [];
  for (let i = 0; i < pks.length; i += BATCH_GET_LIMIT) chunks.push(pks.slice(i, i + BATCH_GET_LIMIT));
  await Promise.all(chunks.map((chunk) => readChunk(client, chunk, options, result)));
  return result;
}

async function readChunk(client: DynamoDBClient, pks: string[], options: BatchGetOptions, result: BatchGetResult): Promise<void> {
  let keys: Array<Record<string, AttributeValue>> = pks.map((pk) => ({ [DYNAMO_PARTITION_KEY]: { S: pk } }));
  const baseBackoff = options.backoffMs ?? 10;
  try {
    for (let attempt = 0; keys.length > 0 && !options.signal.aborted; attempt++) {
      if (attempt > 0) await delay(Math.random() * baseBackoff * 2 ** (attempt - 1), options.signal);
      const response = await client.send(
        new BatchGetItemCommand({
          RequestItems: {
            [options.table]: {
              Keys: keys,
              ...(options.projection
                ? { ProjectionExpression: options.projection.expression, ExpressionAttributeNames: options.projection.names }
                : {}),
            },
          },
        }),
        { abortSignal: options.signal },
      );
      for (const item of response.Responses?.[options.table] ?? []) {
        const pk = item[DYNAMO_PARTITION_KEY]?.S;
        if (pk !== undefined) result.items.set(pk, item);
      }
      keys = response.UnprocessedKeys?.[options.table]?.Keys ?? [];
    }
  } catch (err) {
    result.error ??= err;
  }
  for (const key of keys) result.unresolved.add(key[DYNAMO_PARTITION_KEY]!.S!);
}
