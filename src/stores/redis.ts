import { Redis, Cluster, type ChainableCommander, type RedisOptions, type ClusterOptions } from 'ioredis';
import { FeaturestreamError, ServiceUnavailableError } from '../errors.ts';
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

/**
 * Replies that mean "not now" rather than "never": a restart or overload (LOADING, BUSY, OOM,
 * MASTERDOWN), a failover in progress (READONLY on a demoted master, CLUSTERDOWN, TRYAGAIN),
 * or a slot that moved (MOVED, ASK: ioredis refreshes its slot table, the retry goes to the new owner).
 */
const TRANSIENT_REPLY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|OOM|MOVED|ASK|NOREPLICAS)\b/;

/** Classifies one failed command: a retriable outage, or a rejection (`STORE_REJECTED`) retrying cannot fix. */
export function classifyRedisError(err: Error): FeaturestreamError {
  if (err instanceof FeaturestreamError) return err;
  if (err.name === 'ReplyError' && !TRANSIENT_REPLY.test(err.message)) {
    return new FeaturestreamError('STORE_REJECTED', `redis rejected a command: ${err.message}`, false, { cause: err });
  }
  return new ServiceUnavailableError('redis', err.message, { cause: err });
}

/**
 * Runs a pipeline and returns its replies; the first failed command throws, classified by
 * classifyRedisError (connection failures and timeouts are retriable, so is every transient reply).
 */
export async function execChecked(pipeline: ChainableCommander): Promise<unknown[]> {
  return (await execPipeline(pipeline)).map(([err, value]) => {
    if (err) throw classifyRedisError(err);
    return value;
  });
}

/** Deletes every key matching `pattern` on one node (of a Cluster too) (tests and benchmarks clean up their prefix). */
export async function deleteMatching(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
    cursor = next;
    // One UNLINK per key: a Cluster node refuses a multi-key UNLINK across slots (CROSSSLOT).
    if (keys.length) await execChecked(keys.reduce((pipeline, key) => pipeline.unlink(key), redis.pipeline()));
  } while (cursor !== '0');
}
