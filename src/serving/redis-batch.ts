import { ReplyError, type Cluster, type Redis } from 'ioredis';
import { ServiceUnavailableError, TimeoutError } from '../errors.ts';
import { isCluster, type RedisClient } from '../stores/redis.ts';
import { keySlot } from './slot.ts';

/** The fields to read from one key, and whether they are binary. */
export interface HashFields {
  /** Field names, in the order the reply lists their values; a single field is read with HGET, none means the key is a string (GET). */
  fields: readonly string[];
  /** Read as Buffers (packed vectors are not UTF-8); strings otherwise, which are cheaper to decode. */
  binary: boolean;
}

/**
 * One key's reply: for several fields (HMGET) values in the order of the
 * requested fields, null where a field (or the whole key) is absent; for one
 * field (HGET) or a string key (GET) its value or null; an Error when that
 * key's command failed.
 */
export type HashReply = Array<string | Buffer | null> | string | Buffer | null | Error;

/** The key positions one Redis target serves: the single node (`redis`) or one Cluster master. */
export interface TargetKeys {
  target: string;
  positions: number[];
}

/** Breaker target of a single node. */
export const SINGLE_TARGET = 'redis';

/**
 * Groups key positions by the node that serves them, from the slot table the
 * Cluster client already holds (ioredis refuses a pipeline whose keys live on
 * different nodes). Keys whose slot has no known owner yet (table still
 * loading, unassigned slot) land in `unrouted`: the caller falls back for them.
 */
export function routeKeys(client: RedisClient, keys: readonly string[]): { targets: TargetKeys[]; unrouted: number[] } {
  if (!isCluster(client)) return { targets: [{ target: SINGLE_TARGET, positions: indexes(keys.length) }], unrouted: [] };
  const byNode = new Map<string, number[]>();
  const unrouted: number[] = [];
  for (let i = 0; i < keys.length; i++) {
    const owner = client.slots[keySlot(keys[i]!)]?.[0];
    if (owner === undefined) {
      unrouted.push(i);
      continue;
    }
    let group = byNode.get(owner);
    if (!group) byNode.set(owner, (group = []));
    group.push(i);
  }
  return { targets: [...byNode].map(([node, positions]) => ({ target: `redis@${node}`, positions })), unrouted };
}

/**
 * Reads string keys `keys[i]` for every i in `positions` into `out[i]` (a
 * Buffer, or null when absent or of another type: MGET never fails per key),
 * in MGETs of at most `chunkSize` keys sent at once. Single node only: a
 * Cluster refuses MGET across slots. Rejects when the node fails.
 */
export async function mgetTarget(client: Redis, keys: readonly string[], positions: readonly number[], chunkSize: number, out: HashReply[]): Promise<void> {
  if (positions.length <= chunkSize) return mgetChunk(client, positions.length === keys.length ? keys : positions.map((i) => keys[i]!), positions, out);
  const sends: Array<Promise<void>> = [];
  for (let start = 0; start < positions.length; start += chunkSize) {
    const chunk = positions.slice(start, start + chunkSize);
    sends.push(mgetChunk(client, chunk.map((i) => keys[i]!), chunk, out));
  }
  await Promise.all(sends);
}

async function mgetChunk(client: Redis, names: readonly string[], positions: readonly number[], out: HashReply[]): Promise<void> {
  let values: Array<Buffer | null>;
  try {
    values = await client.mgetBuffer(...names);
  } catch (err) {
    throw asFailure(err as Error);
  }
  for (let j = 0; j < positions.length; j++) out[positions[j]!] = values[j] ?? null;
}

/**
 * Reads `fields[i % fields.length]` of key `keys[i]` (keys come entity by
 * entity, one per group: key i is group i % groups) for every i in `positions`
 * (one node's keys) into `out[i]`, in pipelines of at most `chunkSize` commands written at
 * once (chunking only bounds reply parsing per tick). Rejects when the node
 * fails; a wrong-type key is that key's own Error in `out`.
 *
 * HMGET rather than HGETALL: the reply carries values only (no field names to
 * parse, no object to build), fields the registry no longer knows are never
 * transferred, and values arrive in a known order.
 */
export async function hmgetTarget(
  client: RedisClient,
  keys: readonly string[],
  fields: readonly HashFields[],
  positions: readonly number[],
  chunkSize: number,
  out: HashReply[],
): Promise<void> {
  const sends: Array<Promise<void>> = [];
  for (let start = 0; start < positions.length; start += chunkSize) {
    sends.push(sendChunk(client, keys, fields, positions.slice(start, start + chunkSize), out));
  }
  await Promise.all(sends);
}

async function sendChunk(
  client: Redis | Cluster,
  keys: readonly string[],
  fields: readonly HashFields[],
  positions: number[],
  out: HashReply[],
): Promise<void> {
  const pipeline = client.pipeline();
  const groups = fields.length;
  for (const i of positions) {
    const read = fields[i % groups]!;
    if (read.fields.length === 0) pipeline.getBuffer(keys[i]!);
    else if (read.fields.length === 1) {
      if (read.binary) pipeline.hgetBuffer(keys[i]!, read.fields[0]!);
      else pipeline.hget(keys[i]!, read.fields[0]!);
    } else if (read.binary) pipeline.hmgetBuffer(keys[i]!, ...read.fields);
    else pipeline.hmget(keys[i]!, ...read.fields);
  }
  const replies = await pipeline.exec();
  if (replies === null) throw new ServiceUnavailableError('redis', 'pipeline was discarded');
  for (let j = 0; j < positions.length; j++) {
    const [err, value] = replies[j] ?? [new Error('missing reply'), null];
    // ioredis resolves a pipeline even when the connection failed, with the error in every
    // slot. Only a wrong-type key is that key's problem; anything else fails the batch.
    if (err && !isWrongType(err)) throw asFailure(err);
    out[positions[j]!] = err ?? (value as Exclude<HashReply, Error>);
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
