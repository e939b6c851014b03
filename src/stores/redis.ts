import { readFileSync } from 'node:fs';
import { Redis, Cluster, type ChainableCommander, type RedisOptions, type ClusterOptions } from 'ioredis';
import { ConfigError, FeaturestreamError, ServiceUnavailableError } from '../errors.ts';
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

/** The environment variables that decide how featurestream reaches Redis. */
export type RedisEnv = Pick<EnvConfig, 'REDIS_URL' | 'REDIS_CLUSTER_NODES'> &
  Partial<Pick<EnvConfig, 'REDIS_TLS_CA_FILE' | 'REDIS_USERNAME' | 'REDIS_PASSWORD'>>;

/** ioredis `tls`, `username` and `password` from the environment (validated by loadEnvConfig). */
export function redisSecurity(env: RedisEnv): RedisOptions {
  return {
    ...(env.REDIS_TLS_CA_FILE ? { tls: { ca: [readFileSync(env.REDIS_TLS_CA_FILE, 'utf8')] } } : {}),
    ...(env.REDIS_USERNAME ? { username: env.REDIS_USERNAME } : {}),
    ...(env.REDIS_PASSWORD ? { password: env.REDIS_PASSWORD } : {}),
  };
}

/** ioredis lets credentials in the URL win over options; REDIS_USERNAME/REDIS_PASSWORD must win. */
function urlWithoutCredentials(url: string, env: RedisEnv): string {
  if (!env.REDIS_USERNAME && !env.REDIS_PASSWORD) return url;
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}

/**
 * Builds an ioredis client from REDIS_URL or REDIS_CLUSTER_NODES, with TLS
 * (REDIS_TLS_CA_FILE, or `rediss://`) and ACL credentials (REDIS_USERNAME,
 * REDIS_PASSWORD, or user:password in the URL). Protocol is pinned to RESP2
 * because BullMQ expects it.
 */
export function createRedis(env: RedisEnv, options: RedisConnectOptions = {}): RedisClient {
  const base: RedisOptions = {
    ...redisSecurity(env),
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
  return new Redis(urlWithoutCredentials(env.REDIS_URL, env), base);
}

/** ioredis reports a refused AUTH as a reply error (or, on a Cluster, as the last node's error). */
function isAuthRefusal(err: unknown): boolean {
  const last = (err as { lastNodeError?: unknown }).lastNodeError;
  const text = `${err instanceof Error ? err.message : ''} ${last instanceof Error ? last.message : ''}`;
  return /\b(WRONGPASS|NOAUTH)\b|invalid (username-)?password/i.test(text);
}

const authFailures = new WeakMap<RedisClient, { error?: ConfigError }>();

/**
 * Throws a ConfigError naming REDIS once the server has refused the
 * credentials (WRONGPASS, NOAUTH): a wrong password is not an outage to wait
 * out. The first call starts watching the client; poll it while waiting for
 * `ready`.
 */
export function assertRedisAuthenticated(client: RedisClient): void {
  let seen = authFailures.get(client);
  if (!seen) {
    const state: { error?: ConfigError } = {};
    seen = state;
    authFailures.set(client, state);
    client.on('error', (err: unknown) => {
      if (state.error || !isAuthRefusal(err)) return;
      const reason = err instanceof Error ? (err as { lastNodeError?: Error }).lastNodeError?.message ?? err.message : String(err);
      state.error = new ConfigError(`REDIS: authentication failed: check REDIS_USERNAME and REDIS_PASSWORD (or the credentials in REDIS_URL) (${reason})`, {
        cause: err,
        details: { service: 'redis' },
      });
    });
  }
  if (seen.error) throw seen.error;
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
