/**
 * The wire format of lua/read-field-n.lua, in one place: one field of many
 * hashes in one call, answered as one length-prefixed string (see the
 * script's header), split here without copying.
 */
import type { ChainableCommander } from 'ioredis';
import { queueScript } from './scripts.ts';

const ABSENT = 0xffffffff;
const WRONG_TYPE = 0xfffffffe;

/** One key's answer: its value, null when absent, an Error when the key holds another type. */
export type FieldReply = Buffer | null | Error;

export function queueReadField(pipeline: ChainableCommander, keys: string[], field: string): void {
  queueScript(pipeline, 'readField', keys, [field], true);
}

/** Splits the script's reply into one answer per key; throws on a reply that does not fit `count` keys. */
export function parseReadField(reply: Buffer, count: number): FieldReply[] {
  const out = new Array<FieldReply>(count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > reply.length) throw new Error(`read-field script: reply ends after ${i} of ${count} keys`);
    const len = reply.readUInt32LE(at);
    at += 4;
    if (len === ABSENT) out[i] = null;
    else if (len === WRONG_TYPE) out[i] = new Error('WRONGTYPE Operation against a key holding the wrong kind of value');
    else {
      if (at + len > reply.length) throw new Error(`read-field script: reply ends inside key ${i} of ${count}`);
      out[i] = reply.subarray(at, at + len);
      at += len;
    }
  }
  if (at !== reply.length) throw new Error(`read-field script: ${reply.length - at} bytes after ${count} keys`);
  return out;
}
