/**
 * A backfill: replays the source topics from offsets found by time into a new
 * keyspace version N through the live worker's engine and fenced writes, in
 * its own consumer group (the live group is never touched), then hands over:
 *
 *   replaying  -> the group catches up to the --to offsets or the live end
 *   switch     -> (handover only) SET the pointer to N once the lag is ~0; readers move to N
 *   tailing    -> keeps N current and publishes its positions until every partition
 *                 has switched to N in the live group (see versions.ts), then stops
 *
 * With --to and no --switch it stops at the end offsets; N is built, not served.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { WindowEngine } from '../../aggregations/engine.ts';
import type { EnvConfig } from '../../config.ts';
import { ConfigError } from '../../errors.ts';
import { createLogger, type Logger } from '../../logger.ts';
import type { Registry } from '../../schemas/registry.ts';
import { Keys } from '../../stores/keys.ts';
import { createRedis, type RedisClient } from '../../stores/redis.ts';
import { loadScripts } from '../../stores/scripts.ts';
import { createSyncQueue } from '../../sync/index.ts';
import { GroupMember } from '../group.ts';
import { createKafka, type Admin } from '../kafka-client.ts';
import { Materializer } from '../materializer.ts';
import { PartitionLock } from '../partition-lock.ts';
import { SOLE_OWNER } from '../partition-epoch.ts';
import { TimerLoop } from '../timers.ts';
import { WORKER_DEFAULTS } from '../worker.ts';
import { ReplayFilter, relevanceHorizons } from './filter.ts';
import { closeHandover, handedOver, layoutFingerprint, publishPosition, readActiveVersion, readVersionView, topicPartition } from './handover.ts';
import { backfillMetrics } from './metrics.ts';
import { committedOffsets, highWatermarks, lagTo, type Offsets } from './offsets.ts';
import { prepareBackfill } from './prepare.ts';
import { Progress, type ProgressMode } from './progress.ts';
import { RateLimiter } from './rate.ts';
import { deleteRecord, saveRecord, type BackfillRecord } from './record.ts';
import { createReplayHandler, type BatchReport } from './replay.ts';
import { fixedVersions, VIEW_TTL_MS } from './versions.ts';
import { saveKeyspaceRecord } from './keyspace-record.ts';
import { createDynamoClient } from '../../stores/dynamodb.ts';
import { ensureTable } from '../../sync/table.ts';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export interface BackfillOptions {
  registry: Registry;
  env: EnvConfig;
  /** `earliest` (low watermarks) or epoch ms. */
  since: 'earliest' | number;
  /** Epoch ms: replay only messages before the offsets at this time. */
  until?: number;
  /** Move the pointer to N and hand over to the live group; default: when there is no `until`. */
  handover?: boolean;
  /** Source topics to replay; default all of the registry's. */
  topics?: string[];
  /** Events per second; undefined = unlimited. */
  rate?: number;
  /** Hand written entities to the DynamoDB sync queue (jobs carry version N), as the live worker does; default true. */
  dualWrite?: boolean;
  groupId?: string;
  /** The live workers' consumer group (default: the worker's default group). */
  liveGroupId?: string;
  keys?: Keys;
  logger?: Logger;
  progress?: ProgressMode;
  /**
   * Total lag (messages) at or below which the pointer moves: under steady
   * traffic the lag is rarely exactly 0; readers see N at most this far behind
   * for a moment, while the handover rules keep it exact.
   */
  switchLag?: number;
  pollMs?: number;
  sessionTimeoutMs?: number;
  maxFutureSkewMs?: number;
  dedupHorizonMs?: number;
  partitionsConsumedConcurrently?: number;
  clock?: () => number;
  /** Where the switch keeps the durable copy of the pointer; default: a client on the environment's DynamoDB and DYNAMODB_TABLE. */
  dynamo?: DynamoDBClient;
}

export interface BackfillSummary {
  version: number;
  groupId: string;
  replayed: number;
  resumed: boolean;
  /** The pointer moved to `version` (now or in an earlier run). */
  switched: boolean;
  /** False when stopped before the end. */
  completed: boolean;
}

export interface Backfill {
  /** Resolves when the backfill completes or is stopped. */
  run(): Promise<BackfillSummary>;
  /** Stops after the running batches commit; `run()` then resolves with completed = false. */
  stop(): void;
}

/** Longer than a live worker's version-view cache (1 s) plus a batch in flight. */
const CLOSE_GRACE_MS = 5_000;
/** A live worker's version view (VIEW_TTL_MS), with room for the handover's own reads. */
const SWITCH_SETTLE_MS = 2 * VIEW_TTL_MS;
const DEFAULTS = { dualWrite: true, liveGroupId: WORKER_DEFAULTS.groupId, switchLag: 1_000, pollMs: 500, progress: 'none' as ProgressMode, emptyGroupTimeoutMs: 60_000 };

export function createBackfill(options: BackfillOptions): Backfill {
  const o = { ...WORKER_DEFAULTS, ...DEFAULTS, ...options };
  const logger = (o.logger ?? createLogger({ level: o.env.LOG_LEVEL })).child({ component: 'backfill' });
  const keys = o.keys ?? new Keys({ prefix: o.env.FEATURESTREAM_KEY_PREFIX, hashTags: o.env.REDIS_CLUSTER_NODES !== undefined });
  const sources = [...new Set(o.registry.sources.map((s) => s.topic))];
  const topics = o.topics ?? sources;
  const unknown = topics.filter((t) => !sources.includes(t));
  if (unknown.length > 0) throw new ConfigError(`--topics ${unknown.join(',')}: not a source topic of the registry (${sources.join(', ')})`);
  if (o.rate !== undefined && !(o.rate > 0)) throw new ConfigError(`--rate ${o.rate}: expected a positive number of events per second`);
  let stopping = false;
  let wake: () => void = () => undefined;
  let store: { dynamo: DynamoDBClient; table: string } | undefined;

  async function keyspaceStore(): Promise<{ dynamo: DynamoDBClient; table: string }> {
    if (store) return store;
    const dynamo = o.dynamo ?? createDynamoClient(o.env);
    await ensureTable(dynamo, o.env.DYNAMODB_TABLE, logger);
    store = { dynamo, table: o.env.DYNAMODB_TABLE };
    return store;
  }

  async function run(): Promise<BackfillSummary> {
    const redis = createRedis(o.env, { commandTimeoutMs: 10_000 });
    redis.on('error', () => undefined);
    loadScripts(redis);
    const kafka = createKafka({ env: o.env, clientId: `${o.env.KAFKA_CLIENT_ID}-backfill`, logger });
    const admin = kafka.admin();
    const closers: Array<() => Promise<unknown>> = [async () => redis.disconnect(), async () => void (o.dynamo ? undefined : store?.dynamo.destroy())];
    try {
      await admin.connect();
      closers.unshift(() => admin.disconnect());
      const prepared = await prepareBackfill({
        redis,
        admin,
        keys,
        logger,
        fingerprint: layoutFingerprint(o.registry),
        topics,
        since: o.since,
        ...(o.until === undefined ? {} : { until: o.until }),
        handover: o.handover ?? o.until === undefined,
        ...(o.groupId === undefined ? {} : { groupId: o.groupId }),
        emptyGroupTimeoutMs: o.emptyGroupTimeoutMs,
      });
      const { record } = prepared;
      backfillMetrics.targetVersion.set(record.version);
      const progress = new Progress(record.start, { ...prepared.positions }, o.progress, `backfill v${record.version}`);
      closers.unshift(async () => progress.stop());
      const filter = new ReplayFilter({
        horizons: relevanceHorizons(o.registry, o.dedupHorizonMs),
        maxFutureSkewMs: o.maxFutureSkewMs,
        ...(record.end ? { endOffsets: new Map(Object.entries(record.end)) } : {}),
      });
      if (record.end && record.handover && (record.phase === 'switched' || lagTo(progress.positions, record.end) === 0)) filter.unbound();
      const engine = new WindowEngine(o.registry, { maxFutureSkewMs: o.maxFutureSkewMs, dedupHorizonMs: o.dedupHorizonMs });
      const sync = o.dualWrite ? createSyncQueue({ env: o.env, keys }) : undefined;
      if (sync) closers.unshift(() => sync.close());
      const materializer = new Materializer({
        redis,
        keys,
        registry: o.registry,
        engine,
        keyspaceVersion: record.version,
        logger,
        // Safe beside the live writers of N during the handover: a stale cached state loses the version CAS and is reloaded
        // (theirs too: they compare versions on a version under handover). Their epoch is never taken over, and does not
        // fence the backfill: it keeps writing the topics of a partition that they have not switched yet.
        stateCacheSize: o.stateCacheSize,
        ownership: { ...SOLE_OWNER, yields: true },
        ...(sync ? { sync } : {}),
      });
      const lock = new PartitionLock();
      const onBatch = async (r: BatchReport) => {
        progress.advance(topicPartition(r.topic, r.partition), r.nextOffset, r.replayed);
        // Best effort: a live worker that misses a position waits or writes the old version until the next one.
        if (record.handover) await publishPosition(redis, keys, record.version, r.topic, r.partition, r.nextOffset).catch(() => undefined);
      };
      const group: GroupMember = new GroupMember({
        kafka,
        groupId: record.groupId,
        topics: record.topics,
        logger,
        sessionTimeoutMs: o.sessionTimeoutMs,
        heartbeatIntervalMs: Math.max(500, Math.floor(o.sessionTimeoutMs / 5)),
        partitionsConsumedConcurrently: o.partitionsConsumedConcurrently,
        eachBatch: createReplayHandler({
          registry: o.registry,
          materializer,
          lock,
          consumer: () => group.consumer(),
          filter,
          ...(o.rate === undefined ? {} : { limiter: new RateLimiter(o.rate) }),
          clock: o.clock ?? Date.now,
          logger,
          maxFutureSkewMs: o.maxFutureSkewMs,
          running: () => !stopping,
          pause: (topic, partition) => group.consumer().pause([{ topic, partitions: [partition] }]),
          onBatch,
        }),
      });
      const timers = new TimerLoop({
        redis,
        keys,
        versions: fixedVersions(record.version),
        materializer,
        lock,
        owned: () => group.ownedPartitions(),
        clock: o.clock ?? Date.now,
        logger,
        intervalMs: o.timerIntervalMs,
      });
      closers.unshift(() => timers.stop(), () => group.stop());
      await group.start();
      timers.start();
      logger.info({ version: record.version, groupId: record.groupId, topics: record.topics, resumed: prepared.resumed }, 'backfill started');
      const completed = await watch({ redis, admin, record, progress, filter, group, switchedAt: performance.now() });
      if (completed) {
        // After the last write: while the record exists, live workers write N through, never write-behind (versions.ts underHandover).
        await timers.stop();
        await group.stop();
        await deleteRecord(redis, keys);
      }
      progress.note(completed ? `done (version ${record.version}${record.handover ? ', active' : ''})` : 'stopped');
      return {
        version: record.version,
        groupId: record.groupId,
        replayed: progress.replayed,
        resumed: prepared.resumed,
        switched: record.phase === 'switched',
        completed,
      };
    } finally {
      for (const close of closers) await close().catch((err: unknown) => logger.warn({ err }, 'backfill shutdown step failed'));
    }
  }

  interface WatchState {
    redis: RedisClient;
    admin: Admin;
    record: BackfillRecord;
    progress: Progress;
    filter: ReplayFilter;
    group: GroupMember;
    /** When this process switched the pointer or, resuming a switched backfill, started. */
    switchedAt: number;
    /** When the handover was closed: the backfill keeps tailing until the live workers cannot write the old version any more. */
    closedAt?: number;
  }

  /** The control loop: progress, end detection, the switch, and the end of the handover. True when the backfill completed. */
  async function watch(w: WatchState): Promise<boolean> {
    for (let failures = 0; !stopping; ) {
      try {
        if (await step(w)) return true;
        failures = 0;
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        // Kafka or Redis away: the replay itself retries on its own; the control loop just tries again.
        if (failures++ % 20 === 0) logger.warn({ err, failures }, 'backfill control loop failed; retrying');
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        void sleep(o.pollMs).then(resolve);
      });
    }
    return false;
  }

  /** One pass of the control loop; true when the backfill is complete. */
  async function step(w: WatchState): Promise<boolean> {
    const { redis, admin, record, progress, filter, group } = w;
    const live = await highWatermarks(admin, record.topics);
    const bounded = filter.bounded() && record.end !== undefined;
    const target = bounded ? record.end! : live;
    progress.update(target, live);
    if (bounded && lagTo(progress.positions, target) === 0) {
      if (!record.handover) return true;
      progress.note('reached --to; continuing to the live end to hand over');
      filter.unbound();
      group.consumer().resume(record.topics.map((topic) => ({ topic })));
    } else if (!bounded && record.phase === 'replaying' && lagTo(progress.positions, live) <= o.switchLag) {
      await switchPointer(redis, record);
      await saveRecord(redis, keys, record);
      w.switchedAt = performance.now();
      progress.note(`pointer switched to version ${record.version}; tailing until the live group has switched every partition`);
    } else if (record.phase === 'switched' && w.closedAt === undefined && (await everyPartitionSwitched(redis, admin, record, w))) {
      await closeHandover(redis, keys);
      w.closedAt = performance.now();
    } else if (w.closedAt !== undefined && (await drained(admin, record, progress.positions, w.closedAt))) {
      return true;
    }
    return false;
  }

  /**
   * After the close, a live batch decided on a view from just before it may still go to the old
   * version. Views live at most 1 s and fallbacks are re-read, so after a grace
   * those batches are committed; the backfill stops once it has applied up to the live group's
   * commits, which covers them, and the live workers write N from there on.
   */
  async function drained(admin: Admin, record: BackfillRecord, positions: Offsets, closedAt: number): Promise<boolean> {
    if (performance.now() - closedAt < CLOSE_GRACE_MS) return false;
    const liveAt = await committedOffsets(admin, o.liveGroupId, record.topics);
    return Object.keys(positions).every((tp) => positions[tp]! >= (liveAt[tp] ?? 0));
  }

  async function switchPointer(redis: RedisClient, record: BackfillRecord): Promise<void> {
    const active = await readActiveVersion(redis, keys);
    if (active !== record.from && active !== record.version) {
      throw new ConfigError(`the active version moved from ${record.from} to ${active} during the backfill of version ${record.version}; not switching`);
    }
    await redis.set(keys.activeVersion(), String(record.version));
    // Before the phase moves on: a failed copy retries this whole step, so the durable pointer is never left behind.
    await saveKeyspaceRecord(redis, keys, await keyspaceStore());
    record.phase = 'switched';
    logger.info({ version: record.version, from: record.from }, 'active version switched');
  }

  /**
   * Whether every partition is handed over (handover.ts handedOver). Not before every live
   * worker's version view is younger than the switch: a view from before it writes the old
   * version without the handover's contiguity check, and once the handover is closed the next
   * batch goes into N past that one, whose events N would then never get (the fence skips them).
   */
  async function everyPartitionSwitched(redis: RedisClient, admin: Admin, record: BackfillRecord, w: WatchState): Promise<boolean> {
    if (performance.now() - w.switchedAt < SWITCH_SETTLE_MS) return false;
    const h = (await readVersionView(redis, keys)).handover;
    // No handover left to read: the live workers write the active version N everywhere already.
    if (!h) return true;
    const tps = Object.keys(w.progress.positions);
    if (tps.every((tp) => h.switched.has(tp))) return true;
    const liveAt = await committedOffsets(admin, o.liveGroupId, record.topics);
    const ends = await highWatermarks(admin, record.topics);
    return tps.every((tp) => handedOver(h, tp, liveAt[tp] ?? -1, ends[tp] ?? 0));
  }

  return {
    run,
    stop() {
      stopping = true;
      wake();
    },
  };
}
