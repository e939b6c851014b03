/**
 * The packed layout's batch read on a Cluster as one script call per node
 * (stores/lua/read-packed-1.lua), where MGET refuses keys of different slots:
 * one command to build and one reply to parse instead of a pipeline of one GET
 * per key, which is most of a batch's client time. Owns the script's arguments and its reply. A call the script
 * cannot serve (a Cluster resharding under it, scripts refused, a reply of
 * another shape) rejects with a ScriptUnusableError, and the caller reads the
 * same keys with the pipeline instead.
 */
import { ReplyError } from 'ioredis';
import { FeaturestreamError, ServiceUnavailableError, TimeoutError, type ErrorOptions } from '../errors.ts';
import type { RedisClient } from '../stores/redis.ts';
import { evalshaCall } from '../stores/scripts.ts';
import type { HashReply } from './redis-batch.ts';

/**
 * Redis answered, but not with what the script reads: the keys are read another way.
 * Retriable = worth trying the script again on the next call (a slot moving), not a refusal that would repeat.
 */
export class ScriptUnusableError extends FeaturestreamError {
  constructor(message: string, retriable: boolean, options?: ErrorOptions) {
    super('SCRIPT_UNUSABLE', message, retriable, options);
  }
}

/** One call of the script on one client (see packedScript): the first key, the other keys joined. */
export type PackedScript = (first: string, rest: string) => Promise<unknown>;


/** Errors of a Cluster whose slots move under a call: the next call may well be served. */
const TRANSIENT = /^(MOVED|ASK|TRYAGAIN|CROSSSLOT|CLUSTERDOWN)\b|non local key|do not hash to the same slot|Cluster redirections/;

/** Joins the keys after the first into one argument; entity ids, entity and group names never contain it. */
const KEY_SEPARATOR = '\n';

/**
 * The script's call on `client`, a plain EVALSHA (stores/scripts.ts
 * evalshaCall: cheaper per call than a defined command). Undefined when the
 * script cannot read the keys: a client with a key prefix (ioredis prefixes declared keys only, not
 * the ones in ARGV), a key prefix of ours holding the separator, or an
 * object that cannot send any command (a wrapper or a test double).
 */
export function packedScript(client: RedisClient, keyPrefix: string): PackedScript | undefined {
  if (typeof Reflect.get(client, 'callBuffer') !== 'function' || client.options?.keyPrefix || keyPrefix.includes(KEY_SEPARATOR)) return undefined;
  return evalshaCall(client, 'readPacked');
}

/**
 * Reads string key `keys[i]` for every i in `positions` (one node's keys)
 * into `out[i]` as a Buffer, null (absent) or the key's WRONGTYPE Error, in
 * script calls of at most `chunkSize` keys (bounding how long one call holds
 * Redis). Rejects with a ScriptUnusableError when Redis refused the script,
 * and with the failure otherwise (connection lost, timeout).
 */
export async function readPackedTarget(
  call: PackedScript,
  keys: readonly string[],
  positions: readonly number[],
  chunkSize: number,
  out: HashReply[],
): Promise<void> {
  if (positions.length <= chunkSize) return readChunk(call, keys, positions, out);
  const sends: Array<Promise<void>> = [];
  for (let start = 0; start < positions.length; start += chunkSize) {
    sends.push(readChunk(call, keys, positions.slice(start, start + chunkSize), out));
  }
  await Promise.all(sends);
}

async function readChunk(call: PackedScript, keys: readonly string[], positions: readonly number[], out: HashReply[]): Promise<void> {
  // Joined at once: one flat string, not a chain of partial ones.
  const others: string[] = [];
  for (let j = 1; j < positions.length; j++) others.push(keys[positions[j]!]!);
  const rest = others.join(KEY_SEPARATOR);
  let reply: unknown;
  try {
    reply = await call(keys[positions[0]!]!, rest);
  } catch (err) {
    throw classify(err as Error);
  }
  if (!Array.isArray(reply) || reply.length !== positions.length) {
    throw new ScriptUnusableError(`read-packed script: expected ${positions.length} values, got ${Array.isArray(reply) ? reply.length : typeof reply}`, false);
  }
  for (let j = 0; j < positions.length; j++) {
    const value: unknown = reply[j];
    if (value === null || Buffer.isBuffer(value)) out[positions[j]!] = value;
    else if (value instanceof Error && value.message.startsWith('WRONGTYPE')) out[positions[j]!] = value;
    else throw new ScriptUnusableError(`read-packed script: unexpected value at ${j}`, false);
  }
}

function classify(err: Error): Error {
  if (err instanceof ReplyError || /Cluster redirections/.test(err.message)) return new ScriptUnusableError(`read-packed script refused: ${err.message}`, TRANSIENT.test(err.message), { cause: err });
  // ioredis's commandTimeout rejection carries no code, only this message.
  if (err.message === 'Command timed out') return new TimeoutError('redis: command timed out', { cause: err });
  return new ServiceUnavailableError('redis', err.message, { cause: err });
}
