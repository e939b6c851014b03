import { ReplyError, type Cluster, type Redis } from 'ioredis';
import { ServiceUnavailableError, TimeoutError } from '../errors.ts';
import { isCluster, type RedisClient } from '../stores/redis.ts';
import { keySlot } from './slot.ts';

/** The fields to read from one hash, and whether they are binary. */
export interface HashFields {
  /** Field names, in the order the reply lists their values. */
  fields: readonly string[];
  /** Read as Buffers (packed vectors are not UTF-8); strings otherwise, which are cheaper to decode. */
  binary: boolean;
}

/**
 * One HMGET reply: values in the order of the requested fields, null where a
 * field (or the whole key) is absent; an Error when that key's command failed.
 */
export type HashReply = Array<string | Buffer | null> | Error;

/**
 * Reads `fields[i]` of hash `keys[i]` for every i in one round trip.
 *
 * HMGET rather than HGETALL: the reply carries values only (no field names to
 * parse, no object to build), fields the registry no longer knows are never
 * transferred, and values arrive in a known order.
 *
 * A single node gets pipelines of at most `chunkSize` commands, all written at
 * once (chunking only bounds reply parsing per tick). A Cluster gets one
 * pipeline per owning master, sent in parallel: ioredis refuses a pipeline
 * whose keys live on different nodes, so keys are grouped here by the slot
 * table the client already holds. Replies come back in the order of `keys`.
 */
export async function hmgetBatch(
  client: RedisClient,
  keys: readonly string[],
  fields: readonly HashFields[],
  chunkSize: number,
): Promise<HashReply[]> {
  const out = new Array<HashReply>(keys.length);
  if (keys.length === 0) return out;
  const groups = isCluster(client) ? groupByNode(client, keys) : [indexes(keys.length)];
  const sends: Array<Promise<void>> = [];
  for (const group of groups) {
    for (let start = 0; start < group.length; start += chunkSize) {
      sends.push(sendChunk(client, keys, fields, group.slice(start, start + chunkSize), out));
    }
  }
  await Promise.all(sends);
  return out;
}

async function sendChunk(
  client: Redis | Cluster,
  keys: readonly string[],
  fields: readonly HashFields[],
  positions: number[],
  out: HashReply[],
): Promise<void> {
  const pipeline = client.pipeline();
  for (const i of positions) {
    const read = fields[i]!;
    if (read.binary) pipeline.hmgetBuffer(keys[i]!, ...read.fields);
    else pipeline.hmget(keys[i]!, ...read.fields);
  }
  const replies = await pipeline.exec();
  if (replies === null) throw new ServiceUnavailableError('redis', 'pipeline was discarded');
  for (let j = 0; j < positions.length; j++) {
    const [err, value] = replies[j] ?? [new Error('missing reply'), null];
    // ioredis resolves a pipeline even when the connection failed, with the error in every
    // slot. Only a wrong-type key is that key's problem; anything else fails the batch.
    if (err && !isWrongType(err)) throw asFailure(err);
    out[positions[j]!] = err ?? (value as Array<string | Buffer | null>);
  }
}

function asFailure(err: Error): Error {
  // ioredis's commandTimeout rejection carries no code, only this message.
  if (err.message === 'Command timed out') return new TimeoutError('redis: command timed out', { cause: err });
  return new ServiceUnavailableError('redis', err.message, { cause: err });
}

function isWrongType(err: Error): boolean {
  return err instanceof ReplyError && err.message.startsWith('WRONGTYPE');
}

function indexes(n: number): number[] {
  const all = new Array<number>(n);
  for (let i = 0; i < n; i++) all[i] = i;
  return all;
}

function groupByNode(cluster: Cluster, keys: readonly string[]): number[][] {
  const byNode = new Map<string, number[]>();
  for (let i = 0; i < keys.length; i++) {
    const owner = cluster.slots[keySlot(keys[i]!)]?.[0];
    // No slot table yet (still connecting) or an unassigned slot: fail fast, the caller falls back.
    if (owner === undefined) throw new ServiceUnavailableError('redis', 'cluster slot table not loaded');
    let group = byNode.get(owner);
    if (!group) byNode.set(owner, (group = []));
    group.push(i);
  }
  return [...byNode.values()];
}
