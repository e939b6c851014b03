import { Redis, Cluster, type ChainableCommander, type RedisOptions, type ClusterOptions } from 'ioredis';
import { ServiceUnavailableError } from '../errors.ts';
import type { EnvConfig } from '../config.ts';

export type RedisClient = Redis | Cluster;

export interface RedisConnectOptions {
  /** Reject commands at once while disconnected instead of queueing them (serving path). */
  failFast?: boolean;
  /** Per-command timeout in ms (ioredis `commandTimeout`). */
  commandTimeoutMs?: number;
  /** Extra ioredis options (TLS, auth, Sentinel), merged last. */
  redisOptions?: RedisOptions;
  clusterOptions?: ClusterOptions;
}

/**
 * Builds an ioredis client from REDIS_URL or REDIS_CLUSTER_NODES. Protocol is
 * pinned to RESP2 because BullMQ expects it.
 */
export function createRedis(env: Pick<EnvConfig, 'REDIS_URL' | 'REDIS_CLUSTER_NODES'>, options: RedisConnectOptions = {}): RedisClient {
  const base: RedisOptions = {
    lazyConnect: false,
    enableOfflineQueue: !options.failFast,
    maxRetriesPerRequest: options.failFast ? 0 : 20,
    ...(options.commandTimeoutMs ? { commandTimeout: options.commandTimeoutMs } : {}),
    ...options.redisOptions,
  };
  if (env.REDIS_CLUSTER_NODES) {
    const nodes = env.REDIS_CLUSTER_NODES.map((hp) => {
      const [host, port] = hp.split(':');
      return { host: host ?? '127.0.0.1', port: Number(port) };
    });
    return new Cluster(nodes, {
      enableOfflineQueue: base.enableOfflineQueue,
      redisOptions: base,
      ...options.clusterOptions,
    });
  }
  return new Redis(env.REDIS_URL, base);
}

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/**
 * Sends a pipeline. A failed round trip (connection, timeout) is a retriable outage; the
 * per-command replies, errors included, are left to the caller to judge.
 */
export async function execPipeline(pipeline: ChainableCommander): Promise<Array<[Error | null, unknown]>> {
  let results: Array<[Error | null, unknown]> | null;
  try {
    results = await pipeline.exec();
  } catch (err) {
    throw new ServiceUnavailableError('redis', (err as Error).message, { cause: err });
  }
  if (!results) throw new ServiceUnavailableError('redis', 'pipeline returned no replies');
  return results;
}

/** Deletes every key matching `pattern` on a single node (tests and benchmarks clean up their prefix). */
export async function deleteMatching(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
}
