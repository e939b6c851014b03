import { describe, expect, it } from 'vitest';
import { ReplyError } from 'ioredis';
import { ServiceUnavailableError, TimeoutError } from '../../../src/errors.ts';
import { readPackedTarget, ScriptUnusableError, type PackedScript } from '../../../src/serving/packed-script.ts';
import type { HashReply } from '../../../src/serving/redis-batch.ts';

const keys = ['k0', 'k1', 'k2', 'k3', 'k4'];

/** A script double answering from a map of key -> value, recording its calls. */
function fake(values: Record<string, Buffer | null | Error>) {
  const calls: unknown[][] = [];
  const call: PackedScript = (...args) => {
    calls.push(args);
    const [first, rest] = args;
    const asked = [first, ...(rest === '' ? [] : rest.split('\n'))];
    return Promise.resolve(asked.map((k) => values[k] ?? null));
  };
  return { call, calls };
}

describe('read-packed script calls', () => {
  it('sends the first key and the other keys joined; places every value at its position', async () => {
    const wrongType = new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value');
    const { call, calls } = fake({ k1: Buffer.from('one'), k3: wrongType, k4: Buffer.from('four') });
    const out = new Array<HashReply>(keys.length);
    await readPackedTarget(call, keys, [4, 1, 3, 2], 10, out);
    expect(calls).toEqual([['k4', 'k1\nk3\nk2']]);
    expect(out[0]).toBeUndefined();
    expect(out[1]).toEqual(Buffer.from('one'));
    expect(out[2]).toBeNull();
    expect(out[3]).toBe(wrongType);
    expect(out[4]).toEqual(Buffer.from('four'));
  });

  it('splits a node\'s keys into calls of at most chunkSize keys', async () => {
    const { call, calls } = fake({ k0: Buffer.from('zero'), k4: Buffer.from('four') });
    const out = new Array<HashReply>(keys.length);
    await readPackedTarget(call, keys, [0, 1, 2, 3, 4], 2, out);
    expect(calls).toEqual([
      ['k0', 'k1'],
      ['k2', 'k3'],
      ['k4', ''],
    ]);
    expect(out).toEqual([Buffer.from('zero'), null, null, null, Buffer.from('four')]);
  });

  it('refuses a reply of another shape: too few values, a string, a non-WRONGTYPE error value', async () => {
    const out = new Array<HashReply>(keys.length);
    for (const reply of [[null], 'OK', [null, new ReplyError('ERR other')], [null, 7]]) {
      const call: PackedScript = () => Promise.resolve(reply);
      const err = await readPackedTarget(call, keys, [0, 1], 10, out).catch((e: unknown) => e);
      expect(err, JSON.stringify(reply)).toBeInstanceOf(ScriptUnusableError);
      expect((err as ScriptUnusableError).retriable).toBe(false);
    }
  });

  it('tells a moving slot (try again next call) from a refusal, and passes node failures on as such', async () => {
    const out = new Array<HashReply>(keys.length);
    const outcome = (err: Error) => readPackedTarget(() => Promise.reject(err), keys, [0, 1], 10, out).catch((e: unknown) => e);
    for (const message of ['MOVED 3999 127.0.0.1:6381', 'ASK 3999 127.0.0.1:6381', 'ERR Script attempted to access a non local key in a cluster node script', 'CROSSSLOT Keys in request don\'t hash to the same slot', 'TRYAGAIN Multiple keys request during rehashing of slot']) {
      expect(await outcome(new ReplyError(message)), message).toMatchObject({ name: 'ScriptUnusableError', code: 'SCRIPT_UNUSABLE', retriable: true });
    }
    for (const message of ['NOPERM this user has no permissions to run the \'evalsha\' command', 'ERR unknown command \'evalsha\'']) {
      expect(await outcome(new ReplyError(message)), message).toMatchObject({ name: 'ScriptUnusableError', code: 'SCRIPT_UNUSABLE', retriable: false });
    }
    expect(await outcome(new Error('Command timed out'))).toBeInstanceOf(TimeoutError);
    expect(await outcome(new Error('Connection is closed.'))).toBeInstanceOf(ServiceUnavailableError);
  });
});
