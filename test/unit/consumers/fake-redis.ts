/**
 * A fake single-node Redis for unit tests of the write path: pipelines record
 * their commands, and `reply` decides each command's [error, value].
 */
import type { RedisClient } from '../../../src/stores/redis.ts';

export interface FakeCommand {
  name: string;
  args: unknown[];
}

export type Reply = (command: FakeCommand) => [Error | null, unknown];

/** An Error shaped like an ioredis ReplyError (the classification looks at the name). */
export function replyError(message: string): Error {
  const err = new Error(message);
  err.name = 'ReplyError';
  return err;
}

export function fakeRedis(reply: Reply, info = 'connected_slaves:0\r\n'): { client: RedisClient; sent: FakeCommand[][] } {
  const sent: FakeCommand[][] = [];
  const client = {
    pipeline() {
      const queued: FakeCommand[] = [];
      const pipeline: object = new Proxy(
        {},
        {
          get(_, name: string) {
            if (name === 'exec') {
              return async () => {
                sent.push(queued);
                return queued.map(reply);
              };
            }
            return (...args: unknown[]) => {
              queued.push({ name, args });
              return pipeline;
            };
          },
        },
      );
      return pipeline;
    },
    info: async () => info,
  };
  // The partition epoch script (a client-level call): no epoch taken before, the new one 100.
  const epoch = { fs_partitionEpoch_v7Buffer: async () => [Buffer.from('0'), Buffer.from('100')] };
  return { client: Object.assign(client as RedisClient, epoch), sent };
}
