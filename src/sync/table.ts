/**
 * Creates the sync table when missing and turns on TTL expiry. An endpoint
 * without TTL support (dynalite has no UpdateTimeToLive) is expected locally:
 * one info line per process, not a warning on every start; expired items are
 * filtered by readers anyway. Any other TTL failure is a warning.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  UpdateTimeToLiveCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceUnavailableError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { ITEM_ATTRIBUTES } from '../stores/dynamo-item.ts';
import { DYNAMO_PARTITION_KEY } from '../stores/keys.ts';

/** Endpoints that answered "no such operation" for TTL, so the note is logged once. */
const ttlUnsupported = new Set<string>();

export async function ensureTable(client: DynamoDBClient, table: string, logger: Logger, timeoutMs = 120_000): Promise<void> {
  let status = await tableStatus(client, table);
  if (status === undefined) {
    try {
      await client.send(
        new CreateTableCommand({
          TableName: table,
          AttributeDefinitions: [{ AttributeName: DYNAMO_PARTITION_KEY, AttributeType: 'S' }],
          KeySchema: [{ AttributeName: DYNAMO_PARTITION_KEY, KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      logger.info({ table }, 'created DynamoDB table');
    } catch (err) {
      // Another process created it first.
      if ((err as Error).name !== 'ResourceInUseException') throw err;
    }
  }
  const deadline = Date.now() + timeoutMs;
  while ((status = await tableStatus(client, table)) !== 'ACTIVE') {
    if (Date.now() > deadline) throw new ServiceUnavailableError('dynamodb', `table ${table} not ACTIVE after ${timeoutMs} ms (status ${status})`);
    await sleep(500);
  }
  try {
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: table }));
    const current = ttl.TimeToLiveDescription?.TimeToLiveStatus;
    // Enabling twice is an error on real DynamoDB, so look first.
    if (current === 'ENABLED' || current === 'ENABLING') return;
    await client.send(
      new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { AttributeName: ITEM_ATTRIBUTES.expiresAt, Enabled: true } }),
    );
  } catch (err) {
    const { name, message } = err as Error;
    const fields = { table, err: `${name}: ${message}` };
    if (name !== 'UnknownOperationException') {
      logger.warn(fields, 'could not enable TTL on the table; expired items stay until deleted (readers skip them)');
      return;
    }
    const where = await client.config.endpoint?.().catch(() => undefined);
    const endpoint = where ? `${where.hostname}:${where.port ?? ''}` : 'default';
    const first = !ttlUnsupported.has(endpoint);
    ttlUnsupported.add(endpoint);
    logger[first ? 'info' : 'debug'](fields, 'this DynamoDB endpoint has no TTL (dynalite); expired items stay until deleted (readers skip them)');
  }
}

async function tableStatus(client: DynamoDBClient, table: string): Promise<string | undefined> {
  try {
    const out = await client.send(new DescribeTableCommand({ TableName: table }));
    return out.Table?.TableStatus ?? 'UNKNOWN';
  } catch (err) {
    if ((err as Error).name === 'ResourceNotFoundException') return undefined;
    throw err;
  }
}
