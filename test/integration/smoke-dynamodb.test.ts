import { describe, expect, it } from 'vitest';
import {
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { testDynamo } from '../helpers/services.ts';

describe('DynamoDB smoke (real dynalite endpoint)', () => {
  it('creates a table, rejects an older version with a conditional put, batch-writes and reads back', async () => {
    const { client, table } = await testDynamo();
    const put = (version: number) =>
      client.send(
        new PutItemCommand({
          TableName: table,
          Item: { pk: { S: 'user#u1' }, version: { N: String(version) }, tx_count_1h: { N: String(version * 10) } },
          ConditionExpression: 'attribute_not_exists(pk) OR version < :v',
          ExpressionAttributeValues: { ':v': { N: String(version) } },
        }),
      );
    await put(2);
    await expect(put(1)).rejects.toBeInstanceOf(ConditionalCheckFailedException);

    await client.send(
      new BatchWriteItemCommand({
        RequestItems: {
          [table]: [2, 3].map((i) => ({ PutRequest: { Item: { pk: { S: `user#u${i}` }, version: { N: '1' } } } })),
        },
      }),
    );
    const one = await client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: 'user#u1' } }, ConsistentRead: true }));
    expect(one.Item?.version?.N).toBe('2');
    expect(one.Item?.tx_count_1h?.N).toBe('20');
    const three = await client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: 'user#u3' } } }));
    expect(three.Item?.version?.N).toBe('1');
  });
});
