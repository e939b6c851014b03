/**
 * Reader options, their defaults, and the objects built from them once.
 * Store settings not given fall back to the environment (REDIS_URL,
 * REDIS_CLUSTER_NODES, DYNAMODB_ENDPOINT, DYNAMODB_TABLE, FEATURESTREAM_KEY_PREFIX).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import type { Registry as MetricsRegistry } from 'prom-client';
import { loadEnvConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { createLogger, type Logger } from '../logger.ts';
import { registry as processMetrics } from '../metrics.ts';
import { parseRegistry, type Registry, type RegistryInput, type RequestContext } from '../schemas/registry.ts';
import { createDynamoClient } from '../stores/dynamodb.ts';
import { Keys, type KeyspaceOptions } from '../stores/keys.ts';
import { createRedis, isCluster, type RedisClient } from '../stores/redis.ts';
import { ActiveVersion } from './active-version.ts';
import { BreakerSet, type BreakerOptions } from './breaker.ts';
import { DynamoFallback } from './dynamo-fallback.ts';
import { DecodeMemo } from './decode-memo.ts';
import { StoreFetcher } from './fetcher.ts';
import { packedScript } from './packed-script.ts';
import { BREAKER_STATE_VALUE, createReaderMetrics, type ReaderMetrics } from './metrics.ts';
import { planEntities, type EntityPlan } from './plan.ts';

export interface RedisSettings {
  /** Default REDIS_URL. `rediss://` enables TLS; user:password in the URL authenticates. */
  url?: string;
  /** Cluster seed nodes (host:port); default REDIS_CLUSTER_NODES. */
  clusterNodes?: string[];
  /**
   * Passed to ioredis as is, over the fail-fast defaults: TLS (`tls`), auth
   * (`username`/`password`), Sentinel (`sentinels` + `name`). In Cluster mode
   * they apply to every node.
   */
  redisOptions?: RedisOptions;
  /** Cluster-level ioredis options (e.g. `natMap`, `dnsLookup`); do not set `redisOptions` here. */
  clusterOptions?: ClusterOptions;
}

export interface FeatureReaderOptions<C extends RegistryInput = RegistryInput> {
  /** A registry from defineConfig (typed vectors) or a resolved one (loadRegistryFile). */
  registry: C | Registry;
  /** An ioredis client to use (not closed by the reader), settings for one, or false for none. */
  redis?: RedisClient | RedisSettings | false;
  /**
   * DynamoDB fallback: a client and/or table (default DYNAMODB_TABLE), or false
   * for none. `maxInFlight` (default 16) caps its batch reads outstanding: one
   * more is refused at once and its entities served as defaults. It has its own
   * breaker, with the `breaker` option's threshold and open time.
   */
  dynamodb?: { client?: DynamoDBClient; table?: string; maxInFlight?: number } | false;
  /** Environment the defaults come from; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Key layout; default prefix FEATURESTREAM_KEY_PREFIX, hash tags when Redis is a Cluster (as the worker writes). */
  keys?: Keys | KeyspaceOptions;
  /** Per-call deadline; default 50 ms. */
  deadlineMs?: number;
  /**
   * How long Redis may take before the reader falls back; default 40% of
   * deadlineMs (Redis answers in ~1 ms when healthy, DynamoDB needs the rest).
   */
  redisTimeoutMs?: number;
  /** In-process cache; default 5 s TTL, 100 000 entities. false disables it (coalescing stays). */
  cache?: { ttlMs?: number; max?: number } | false;
  breaker?: Omit<BreakerOptions, 'onStateChange'>;
  /** On a Redis miss, read DynamoDB (cold start after a Redis flush); default false. */
  readThrough?: boolean;
  /** Commands per pipeline chunk for very large batches (keys per script call too); default 500. */
  pipelineChunkSize?: number;
  /**
   * On a Cluster, read packed vectors with one script call per master
   * (default true): far less client work than a pipeline of one GET per key.
   * false: always the pipeline there (e.g. where an ACL forbids EVALSHA:
   * otherwise the refusal is paid once every 30 s before falling back). A
   * single node reads them with MGET either way.
   */
  scripts?: boolean;
  /**
   * Packed vectors decoded before, per entity (default 10 000 entities): a
   * read whose blobs come back byte for byte unchanged serves the vector
   * decoded then instead of decoding again. Every read still goes to Redis.
   * false: decode every read.
   */
  decodeMemo?: { max?: number } | false;
  /** How long the keyspace version is trusted before a background re-read; default 1000 ms. */
  activeVersionTtlMs?: number;
  /** prom-client registry; default the process registry of src/metrics.ts. */
  metrics?: MetricsRegistry;
  logger?: Logger;
}

export interface ReaderSetup {
  registry: Registry;
  plans: Map<string, EntityPlan>;
  fetcher: StoreFetcher;
  breakers: BreakerSet;
  metrics: ReaderMetrics;
  version: ActiveVersion;
  cacheOptions: { ttl: number; max: number } | undefined;
  deadlineMs: number;
  ready: (timeoutMs: number) => Promise<boolean>;
  close: () => Promise<void>;
}

function isResolved(r: RegistryInput | Registry): r is Registry {
  return typeof (r as Registry).featuresOf === 'function';
}

function isClient(r: unknown): r is RedisClient {
  return typeof (r as RedisClient | undefined)?.pipeline === 'function';
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) throw new ConfigError(`reader option ${name} must be a positive number, got ${String(value)}`);
  return v;
}

/** A deadline given per call or in the options: a finite number of ms above 0. */
export function checkDeadline(where: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError(`${where} must be a finite number of ms above 0, got ${String(value)}`);
  }
  return value;
}

/**
 * A call's request context: an object (not an array), or undefined. An empty
 * one is the same as none, so it keeps the cache's shared features.
 */
export function checkContext(value: unknown): RequestContext | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`get option context must be an object of request values, got ${Array.isArray(value) ? 'an array' : String(value)}`);
  }
  return Object.keys(value).length === 0 ? undefined : (value as RequestContext);
}

/** Least time ioredis gives a command before failing it itself. */
const COMMAND_BACKSTOP_MS = 1_000;

/** Time kept back from a deadline for assembling vectors after the stores answer. */
export function marginFor(deadlineMs: number): number {
  return Math.min(4, deadlineMs / 10);
}

export function resolveReaderSetup<C extends RegistryInput>(o: FeatureReaderOptions<C>): ReaderSetup {
  const env = loadEnvConfig(o.env ?? process.env);
  const registry = isResolved(o.registry) ? o.registry : parseRegistry(o.registry);
  const logger = (o.logger ?? createLogger({ level: env.LOG_LEVEL })).child({ component: 'reader' });
  const deadlineMs = checkDeadline('reader option deadlineMs', o.deadlineMs ?? 50);
  const redisTimeoutMs = positive('redisTimeoutMs', o.redisTimeoutMs, Math.max(1, Math.round(deadlineMs * 0.4)));
  const closers: Array<() => Promise<void>> = [];

  let redis: RedisClient | undefined;
  if (isClient(o.redis)) {
    redis = o.redis;
  } else if (o.redis !== false) {
    const settings = o.redis ?? {};
    redis = createRedis(
      // An explicit url means that node: the environment's cluster seeds do not override it.
      { ...env, REDIS_URL: settings.url ?? env.REDIS_URL, REDIS_CLUSTER_NODES: settings.clusterNodes ?? (settings.url === undefined ? env.REDIS_CLUSTER_NODES : undefined) },
      {
        failFast: true,
        // A backstop that frees stuck commands; the fetcher's own timer (redisTimeoutMs) decides fallback.
        // Well past the deadline: ioredis's timer runs before the loop reads the socket, so one at the
        // deadline would fail a reply that arrived while the loop was busy (see deadline.ts).
        commandTimeoutMs: Math.max(COMMAND_BACKSTOP_MS, deadlineMs * 4),
        redisOptions: { connectTimeout: 1_000, ...settings.redisOptions },
        ...(settings.clusterOptions ? { clusterOptions: settings.clusterOptions } : {}),
      },
    );
    // Connection errors surface per call as fallbacks; without a listener ioredis prints each one.
    redis.on('error', (err: Error) => logger.debug({ err }, 'redis connection error'));
    const created = redis;
    closers.push(async () => {
      await created.quit().catch(() => created.disconnect());
    });
  }

  // The worker wraps ids in hash tags on a Cluster; the reader must build the same keys.
  const keys =
    o.keys instanceof Keys
      ? o.keys
      : new Keys({ prefix: env.FEATURESTREAM_KEY_PREFIX, hashTags: redis !== undefined && isCluster(redis), ...o.keys });

  const metrics = createReaderMetrics(o.metrics ?? processMetrics);
  let dynamo: DynamoFallback | undefined;
  if (o.dynamodb !== false) {
    const given = o.dynamodb ?? {};
    // One attempt: a retry inside a 50 ms deadline only delays the defaults.
    const client = given.client ?? createDynamoClient(env, { maxAttempts: 1 });
    if (!given.client) closers.push(async () => client.destroy());
    dynamo = new DynamoFallback({
      client,
      table: given.table ?? env.DYNAMODB_TABLE,
      keys,
      metrics,
      logger,
      maxInFlight: positive('dynamodb.maxInFlight', given.maxInFlight, 16),
      breaker: o.breaker ?? {},
    });
    dynamo.warm();
  }

  const breakers = new BreakerSet(o.breaker ?? {}, (target, state) => metrics.breakerState.set({ target }, BREAKER_STATE_VALUE[state]));
  const fetcher = new StoreFetcher({
    redis,
    dynamo,
    keys,
    breakers,
    metrics,
    logger,
    redisTimeoutMs,
    pipelineChunkSize: positive('pipelineChunkSize', o.pipelineChunkSize, 500),
    readThrough: o.readThrough ?? false,
    packedScript: redis === undefined || o.scripts === false ? undefined : packedScript(redis, keys.prefix),
    decodeMemo: o.decodeMemo === false ? undefined : new DecodeMemo(positive('decodeMemo.max', o.decodeMemo?.max, 10_000)),
  });
  const cache = o.cache === false ? undefined : { ttl: positive('cache.ttlMs', o.cache?.ttlMs, 5_000), max: positive('cache.max', o.cache?.max, 100_000) };
  return {
    registry,
    plans: planEntities(registry),
    fetcher,
    breakers,
    metrics,
    version: new ActiveVersion(redis, keys, positive('activeVersionTtlMs', o.activeVersionTtlMs, 1_000)),
    cacheOptions: cache,
    deadlineMs,
    ready: (timeoutMs) => redisReady(redis, timeoutMs),
    close: async () => {
      await Promise.all(closers.map((c) => c()));
    },
  };
}

function redisReady(redis: RedisClient | undefined, timeoutMs: number): Promise<boolean> {
  if (redis === undefined || redis.status === 'ready') return Promise.resolve(redis !== undefined);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(ok);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    redis.on('ready', onReady);
  });
}
