import { describe, expect, it } from 'vitest';
import type { BatchGetItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { batchGetItems } from '../../../src/serving/dynamo-batch.ts';

type Handler = (keys: string[], call: number) => { found: string[]; unprocessed: string[] } | Error;

/** A DynamoDBClient stand-in answering BatchGetItem from `handler`. */
function client(handler: Handler) {
  const calls: string[][] = [];
  const fake = {
    send: async (command: BatchGetItemCommand) => {
      const keys = command.input.RequestItems!.t!.Keys!.map((k) => k.pk!.S!);
      calls.push(keys);
      const answer = handler(keys, calls.length);
      if (answer instanceof Error) throw answer;
      return {
        Responses: { t: answer.found.map((pk) => ({ pk: { S: pk }, n: { N: '1' } })) },
        UnprocessedKeys: answer.unprocessed.length ? { t: { Keys: answer.unprocessed.map((pk) => ({ pk: { S: pk } })) } } : {},
      };
    },
  };
  return { client: fake as unknown as DynamoDBClient, calls };
}

const pks = (n: number) => Array.from({ length: n }, (_, i) => `user#u${i}`);

describe('batchGetItems', () => {
  it('splits into requests of at most 100 keys', async () => {
    const { client: c, calls } = client((keys) => ({ found: keys, unprocessed: [] }));
    const result = await batchGetItems(c, pks(250), { table: 't', signal: new AbortController().signal });
    expect(calls.map((k) => k.length).sort()).toEqual([100, 100, 50]);
    expect(result.items.size).toBe(250);
    expect(result.unresolved.size).toBe(0);
  });

  it('retries UnprocessedKeys until every key is read', async () => {
    const { client: c, calls } = client((keys, call) => (call < 3 ? { found: keys.slice(1), unprocessed: keys.slice(0, 1) } : { found: keys, unprocessed: [] }));
    const result = await batchGetItems(c, pks(3), { table: 't', signal: new AbortController().signal, backoffMs: 1 });
    expect(calls).toEqual([pks(3), ['user#u0'], ['user#u0']]);
    expect([...result.items.keys()].sort()).toEqual(pks(3));
  });

  it('stops retrying when the signal aborts and reports the rest as unresolved', async () => {
    const abort = new AbortController();
    const { client: c } = client((keys) => {
      abort.abort();
      return { found: keys.slice(1), unprocessed: keys.slice(0, 1) };
    });
    const result = await batchGetItems(c, pks(2), { table: 't', signal: abort.signal });
    expect([...result.items.keys()]).toEqual(['user#u1']);
    expect([...result.unresolved]).toEqual(['user#u0']);
  });

  it('never throws: a failed chunk is unresolved, the others still count', async () => {
    const { client: c } = client((keys) => (keys[0] === 'user#u0' ? new Error('throttled') : { found: keys, unprocessed: [] }));
    const result = await batchGetItems(c, pks(150), { table: 't', signal: new AbortController().signal });
    expect(result.items.size).toBe(50);
    expect(result.unresolved.size).toBe(100);
    expect((result.error as Error).message).toBe('throttled');
  });
});
