/**
 * One vector key read or written whatever its layout (stores/vector-layout.ts):
 * for tools, seeding and tests. The worker, the reader and the sync have
 * batched paths of their own.
 */
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './redis.ts';
import type { StoredContent } from './vector-layout.ts';

/** A string key's value or a hash's fields; undefined when the key is absent. Rejects (WRONGTYPE) on any other type. */
export async function readVectorKey(client: RedisClient, key: string): Promise<StoredContent> {
  const type = await client.type(key);
  if (type === 'none') return undefined;
  if (type === 'string') return (await client.getBuffer(key)) ?? undefined;
  return client.hgetallBuffer(key);
}

/** Queues the write of a vector key's content (GroupCodec.content): a Buffer is a string key's value, a record a hash's fields. */
export function queueVectorWrite(pipeline: ChainableCommander, key: string, content: Buffer | Readonly<Record<string, string | Buffer>>): void {
  if (Buffer.isBuffer(content)) pipeline.set(key, content);
  else pipeline.hset(key, content);
}

/** readVectorKey for many keys at once (sent together; a Cluster client routes each). */
export function readVectorKeys(client: RedisClient, keys: readonly string[]): Promise<StoredContent[]> {
  return Promise.all(keys.map((key) => readVectorKey(client, key)));
}
