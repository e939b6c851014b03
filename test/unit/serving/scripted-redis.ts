/**
 * Just enough of an ioredis client for reader unit tests: pipelines of HMGET
 * answered by a script, so a test controls exactly when and what Redis answers.
 */
import type { RedisClient } from '../../../src/stores/redis.ts';

export type Row = Array<string | Buffer | null>;
/** `fields[i]` are the fields HMGET asked of `keys[i]`. */
export type Answer = (keys: string[], fields: string[][]) => Promise<Array<[Error | null, Row]>>;

export function scriptedRedis(answer: Answer) {
  const sent: string[][] = [];
  const client = {
    status: 'ready',
    on: () => client,
    off: () => client,
    get: () => Promise.resolve(null),
    // Every keyspace version recorded in the per-field layout (a fingerprint without `+packed`): the scripts answer HMGET rows.
    hget: () => Promise.resolve('scripted'),
    pipeline: () => {
      const keys: string[] = [];
      const fields: string[][] = [];
      const ask = (key: string, ...names: string[]) => {
        keys.push(key);
        fields.push(names);
      };
      return {
        hmget: ask,
        hmgetBuffer: ask,
        exec: () => {
          sent.push(keys);
          return answer(keys, fields);
        },
      };
    },
  };
  return { client: client as unknown as RedisClient, sent };
}

/** Answers every key as an absent hash (all fields null). */
export const absent: Answer = (keys) => Promise.resolve(keys.map(() => [null, [null, null, null, null, null, null, null, null, null, null, null, null, null]]));

/** A Redis whose answer waits until `release()`; `answer` builds it then. */
export function heldRedis(answer: (keys: string[]) => Array<[Error | null, Row]>) {
  const waiting: Array<() => void> = [];
  const redis = scriptedRedis((keys) => new Promise((resolve) => waiting.push(() => resolve(answer(keys)))));
  return {
    ...redis,
    release: () => {
      for (const go of waiting.splice(0)) go();
    },
  };
}
