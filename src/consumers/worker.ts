/**
 * createWorker: wires the materialization worker together (Kafka group member,
 * batch runner, Redis sink, dead-letter producer, timers, HTTP probes). The
 * CLI and in-process tests both start workers through this entry.
 */
import { WindowEngine } from '../aggregations/engine.ts';
import type { EnvConfig } from '../config.ts';
import { createLogger, type Logger } from '../logger.ts';
import { registry as metricsRegistry, collectProcessMetrics } from '../metrics.ts';
import { startHttpServer, type RunningHttpServer } from '../http-server.ts';
import type { Registry } from '../schemas/registry.ts';
import { Keys } from '../stores/keys.ts';
import { assertRedisAuthenticated, createRedis, type RedisClient } from '../stores/redis.ts';
import { loadScripts } from '../stores/scripts.ts';
import type { WaitReplicas } from '../stores/node-pipelines.ts';
import { createKafka, Partitioners, type Producer } from './kafka-client.ts';
import { DeadLetterSink } from './dead-letter.ts';
import { GroupMember } from './group.ts';
import { Materializer } from './materializer.ts';
import { dynamoStateSource } from './quarantine.ts';
import { createDynamoClient } from '../stores/dynamodb.ts';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PartitionLock } from './partition-lock.ts';
import { createBatchHandler } from './runner.ts';
import { TimerLoop } from './timers.ts';
import { fixedVersions, KeyspaceVersions } from './backfill/versions.ts';
import { retryWhileUnavailable } from './backoff.ts';
import { ServiceUnavailableError } from '../errors.ts';
import { createSyncQueue, startSyncService, type SyncQueue, type SyncService } from '../sync/index.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRecovery } from './recovery-wiring.ts';
import { Checkpoints } from './checkpoints.ts';

export interface WorkerOptions {
  registry: Registry;
  env: EnvConfig;
  groupId?: string;
  /** Defaults to `new Keys({ prefix: env.FEATURESTREAM_KEY_PREFIX, hashTags: <Redis Cluster> })`. */
  keys?: Keys;
  /** Pins the worker to one keyspace version; default: follow the active version (`keys.activeVersion()`) per batch and timer tick. */
  keyspaceVersion?: number;
  /** Port for /metrics, /healthz, /readyz; 0 = any free port; false = no server. */
  metricsPort?: number | false;
  /** Wall clock in ms; injectable so tests can evaluate at a known time. */
  clock?: () => number;
  logger?: Logger;
  maxFutureSkewMs?: number;
  dedupHorizonMs?: number;
  timerIntervalMs?: number;
  sessionTimeoutMs?: number;
  partitionsConsumedConcurrently?: number;
  /**
   * Every entity's events come from one partition number (sources co-partitioned, keyed by entity id):
   * writes are fenced by the partition epoch alone, without reading each entity's `_version` first.
   * Default false: entities fed by several partitions stay exact.
   */
  coPartitioned?: boolean;
  /** Entity states kept in memory between batches (skips their load and decode); 0 disables. */
  stateCacheSize?: number;
  /**
   * Write-behind (checkpoints.ts): batches write vectors only; states are checkpointed to Redis this
   * often (and after `checkpointEvents` events of a partition, and on stop), and offsets commit after
   * the checkpoint. 0 (default): every batch writes states and commits. Needs `coPartitioned`.
   */
  checkpointIntervalMs?: number;
  checkpointEvents?: number;
  /**
   * Replicas every write must reach (Redis WAIT, per master) before the batch's offsets
   * commit, so a failover cannot drop committed writes. `auto` (default): 1 on masters that
   * have replicas, none on those without; 0 disables.
   */
  waitReplicas?: WaitReplicas;
  /** Longest WAIT per pipeline; fewer acknowledgements by then retry the batch. */
  waitTimeoutMs?: number;
  /** Hand every written entity to the DynamoDB sync queue before committing; default true. */
  dualWrite?: boolean;
  /** Also run sync workers (queue -> DynamoDB) in this process; default true. */
  runSyncWorkers?: boolean;
  /** Detect Redis data loss per batch and recover from DynamoDB + a replay (recovery.ts); default: with dualWrite. */
  recovery?: boolean;
}

export interface Worker {
  start(): Promise<void>;
  /** Graceful: finishes running batches, commits, leaves the group, closes connections. */
  stop(): Promise<void>;
  ready(): boolean;
  /** The bound metrics port, once started with a server. */
  metricsPort(): number | undefined;
  readonly keys: Keys;
}

export const WORKER_DEFAULTS = {
  groupId: 'featurestream-worker',
  maxFutureSkewMs: 5 * 60_000,
  dedupHorizonMs: 60 * 60_000,
  timerIntervalMs: 1_000,
  sessionTimeoutMs: 10_000,
  partitionsConsumedConcurrently: 4,
  stateCacheSize: 100_000,
  checkpointIntervalMs: 0,
  checkpointEvents: 200_000,
  waitReplicas: 'auto' as WaitReplicas,
  waitTimeoutMs: 2_000,
  dualWrite: true,
  runSyncWorkers: true,
} as const;

export function createWorker(options: WorkerOptions): Worker {
  const o = { ...WORKER_DEFAULTS, ...stripUndefined(options) };
  const logger = (o.logger ?? createLogger({ level: o.env.LOG_LEVEL })).child({ component: 'worker', group: o.groupId });
  const clock = o.clock ?? Date.now;
  const keys = o.keys ?? new Keys({ prefix: o.env.FEATURESTREAM_KEY_PREFIX, hashTags: o.env.REDIS_CLUSTER_NODES !== undefined });
  const topics = [...new Set(o.registry.sources.map((s) => s.topic))];
  let running = false;
  let redis: RedisClient | undefined;
  let producer: Producer | undefined;
  let member: GroupMember | undefined;
  let timers: TimerLoop | undefined;
  let http: RunningHttpServer | undefined;
  let syncQueue: SyncQueue | undefined;
  let dynamo: DynamoDBClient | undefined;
  let syncService: Promise<SyncService | undefined> | undefined;
  let closeRecovery: (() => Promise<void>) | undefined;
  let checkpoints: Checkpoints | undefined;

  const ready = () => running && redis?.status === 'ready' && member?.joined() === true;

  return {
    keys,
    ready,
    metricsPort: () => http?.port,
    async start() {
      running = true;
      redis = createRedis(o.env, { failFast: true, commandTimeoutMs: 10_000 });
      // Connection errors are retried by the sink with backoff; ioredis would otherwise log every one.
      redis.on('error', () => undefined);
      loadScripts(redis);
      const client = redis;
      await untilReady(client, () => running, logger);
      const kafka = createKafka({ env: o.env, logger });
      producer = kafka.producer({ allowAutoTopicCreation: true, createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      const engine = new WindowEngine(o.registry, { maxFutureSkewMs: o.maxFutureSkewMs, dedupHorizonMs: o.dedupHorizonMs });
      // Its own connection: BullMQ defines ~60 scripts on a client, and ioredis copies them into every pipeline the worker builds.
      if (o.dualWrite) syncQueue = createSyncQueue({ env: o.env, keys });
      // DynamoDB being down must not hold the worker back: the sync workers start whenever it answers.
      if (o.dualWrite && o.runSyncWorkers) {
        const startSync = () =>
          startSyncService({ env: o.env, registry: o.registry, keys, logger }).catch((err: unknown) => {
            throw new ServiceUnavailableError('dynamodb', `sync workers not started: ${String(err)}`, { cause: err });
          });
        syncService = retryWhileUnavailable(startSync, { keepGoing: () => running, logger, maxMs: 10_000 }).then((r) => (r.done ? r.value : undefined));
      }
      dynamo = o.dualWrite ? createDynamoClient(o.env, { maxAttempts: 2 }) : undefined;
      const versions = o.keyspaceVersion === undefined ? new KeyspaceVersions(redis, keys, o.registry) : fixedVersions(o.keyspaceVersion);
      const materializer = new Materializer({
        redis,
        keys,
        registry: o.registry,
        engine,
        keyspaceVersion: o.keyspaceVersion ?? 1,
        logger,
        stateCacheSize: o.stateCacheSize,
        // A partition's write epoch is taken once per group generation, and only for owned partitions.
        ownership: { generation: () => group.generationNumber(), owns: (p) => group.ownedPartitions().has(p) },
        coPartitioned: o.coPartitioned,
        sharedVersion: (version) => versions.underHandover(version),
        writeBehind: o.checkpointIntervalMs > 0,
        // A quarantined entity's state comes back from its DynamoDB copy (kept only with dual-write).
        ...(dynamo ? { stateSource: dynamoStateSource(dynamo, o.env.DYNAMODB_TABLE, keys) } : {}),
        ...(o.waitReplicas === 0 ? {} : { replicaWait: { replicas: o.waitReplicas, timeoutMs: o.waitTimeoutMs } }),
        ...(syncQueue ? { sync: syncQueue } : {}),
      });
      const lock = new PartitionLock();
      const deadLetters = new DeadLetterSink(producer);
      const recovery = (o.recovery ?? o.dualWrite)
        ? await createRecovery({
            env: o.env,
            kafka,
            redis,
            keys,
            registry: o.registry,
            engine,
            groupId: o.groupId,
            topics,
            logger,
            clock,
            writeBehind: o.checkpointIntervalMs > 0,
            // Memory holds states newer than Redis (dropped with the offsets not checkpointed yet) and a
            // version view read while Redis was empty.
            clearCache: () => {
              materializer.clearCache();
              checkpoints?.forget();
              versions.forget();
            },
            consumer: () => group.consumer(),
            owned: () => group.ownedPartitions(),
          })
        : undefined;
      const commit = (topic: string, partition: number, lastOffset: string, isStale: () => boolean) => group.commitAfter(topic, partition, lastOffset, isStale);
      if (o.checkpointIntervalMs > 0) {
        checkpoints = new Checkpoints({
          materializer,
          lock,
          commit,
          clock,
          logger,
          intervalMs: o.checkpointIntervalMs,
          maxEvents: o.checkpointEvents,
          ...(syncQueue ? { sync: syncQueue } : {}),
        });
      }
      if (recovery) closeRecovery = recovery.close;
      const group: GroupMember = new GroupMember({
        kafka,
        groupId: o.groupId,
        topics,
        logger,
        sessionTimeoutMs: o.sessionTimeoutMs,
        heartbeatIntervalMs: Math.max(500, Math.floor(o.sessionTimeoutMs / 5)),
        partitionsConsumedConcurrently: o.partitionsConsumedConcurrently,
        eachBatch: createBatchHandler({
          registry: o.registry,
          materializer,
          deadLetters,
          lock,
          commit,
          ...(checkpoints ? { checkpoints } : {}),
          versions,
          clock,
          logger,
          maxFutureSkewMs: o.maxFutureSkewMs,
          running: () => running,
          ...(recovery ? { recovery: recovery.recovery } : {}),
        }),
      });
      member = group;
      timers = new TimerLoop({
        redis,
        keys,
        versions: recovery ? recovery.recovery.gateTimers(versions) : versions,
        materializer,
        lock,
        owned: () => group.ownedPartitions(),
        clock,
        logger,
        intervalMs: o.timerIntervalMs,
      });
      if (o.metricsPort !== false) {
        collectProcessMetrics();
        http = await startHttpServer({
          port: o.metricsPort ?? o.env.METRICS_PORT,
          registry: metricsRegistry,
          health: () => ({ ok: running }),
          ready: () => ({ ok: ready(), detail: { redis: client.status, joined: group.joined() } }),
        });
      }
      await group.start();
      timers.start();
      checkpoints?.start();
      logger.info({ topics, metricsPort: http?.port }, 'worker started');
    },
    async stop() {
      if (!running) return;
      running = false;
      await timers?.stop();
      // Batches have stopped (running is false): the last checkpoint queues the last commits.
      await checkpoints?.stop();
      await member?.stop();
      await producer?.disconnect();
      await http?.close();
      await (await syncService)?.close();
      await syncQueue?.close();
      await closeRecovery?.();
      dynamo?.destroy();
      redis?.disconnect();
      logger.info('worker stopped');
    },
  };
}

/** Start-up waits for Redis instead of failing: workers may start before the store does. */
async function untilReady(client: RedisClient, keepGoing: () => boolean, logger: Logger): Promise<void> {
  const started = Date.now();
  let warned = false;
  while (client.status !== 'ready' && keepGoing()) {
    assertRedisAuthenticated(client);
    if (!warned && Date.now() - started > 5_000) {
      logger.warn({ status: client.status }, 'waiting for redis');
      warned = true;
    }
    await sleep(50);
  }
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
