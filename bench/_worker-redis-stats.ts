/**
 * Redis command counts for the worker bench: what this process sent (every
 * pipelined or scripted call passes ioredis' sendCommand once) and what the
 * servers ran (INFO commandstats, which counts commands inside Lua too).
 */
import { Cluster, Redis } from 'ioredis';
import type { EnvConfig } from '../src/config.ts';
import { isCluster } from '../src/stores/redis.ts';

/** Commands this process sends, by name: every pipelined or scripted call goes through sendCommand once. */
export const clientSent = new Map<string, number>();
const sendCommand = Redis.prototype.sendCommand;
Redis.prototype.sendCommand = function countedSendCommand(this: Redis, ...args: Parameters<Redis['sendCommand']>) {
  const name = args[0].name.toLowerCase();
  clientSent.set(name, (clientSent.get(name) ?? 0) + 1);
  return sendCommand.apply(this, args);
};

/** Commands a server ran (INFO commandstats calls), by name; summed over the masters of a Cluster. */
export async function serverCommandStats(redisEnv: EnvConfig): Promise<Map<string, number>> {
  const seeds = redisEnv.REDIS_CLUSTER_NODES?.map((hp) => ({ host: hp.split(':')[0]!, port: Number(hp.split(':')[1]) }));
  const redis = seeds ? new Cluster(seeds) : new Redis(redisEnv.REDIS_URL);
  try {
    if (isCluster(redis)) await new Promise((resolve) => redis.once('ready', resolve));
    const nodes = isCluster(redis) ? redis.nodes('master') : [redis];
    const out = new Map<string, number>();
    for (const node of nodes) {
      const info = await node.info('commandstats');
      for (const [, name, calls] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(name!, (out.get(name!) ?? 0) + Number(calls));
      // The server's own CPU seconds, kept apart from the command names by the `cpu:` prefix.
      const cpu = await node.info('cpu');
      const seconds = ['used_cpu_user', 'used_cpu_sys'].reduce((a, f) => a + Number(new RegExp(`^${f}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? 0), 0);
      out.set('cpu:seconds', (out.get('cpu:seconds') ?? 0) + seconds);
    }
    return out;
  } finally {
    redis.disconnect();
  }
}

/** Commands per written entity between two snapshots, with the busiest commands named; the bench's own INFO calls left out. */
export function perEntity(before: Map<string, number>, after: Map<string, number>, entities: number): { perEntity: number; top: string } {
  const delta = [...after]
    .map(([name, n]) => [name, n - (before.get(name) ?? 0)] as const)
    .filter(([name, n]) => n > 0 && name !== 'info' && !name.startsWith('cluster') && !name.startsWith('cpu:'));
  const total = delta.reduce((a, [, n]) => a + n, 0);
  const top = delta
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([name, n]) => `${name} ${(n / Math.max(1, entities)).toFixed(3)}`)
    .join(', ');
  return { perEntity: Number((total / Math.max(1, entities)).toFixed(3)), top };
}

