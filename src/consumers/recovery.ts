/**
 * Redis data loss, detected and recovered while the worker runs.
 *
 * Before each batch of partition P starting at offset a, the recovery marks
 * of P (recovery-marks.ts) are read on every Redis master:
 *   - mark m >= a - 1 everywhere: nothing was lost; the batch runs.
 *   - some master has m < a - 1: it rolled back (restart with appendfsync
 *     everysec, failover to a lagging replica, old snapshot) but kept every
 *     write of P up to m: P is sought to m + 1 and the batch is not committed.
 *     The per-entity offset fences make the replay exact for the entities
 *     that did not roll back.
 *   - some master has no mark while P has progress (a > log start): that
 *     master lost everything (FLUSHALL, restart without persistence). One
 *     recovery runs per worker (other batches wait, heartbeating; the timer
 *     loop skips): durable pointer back, state cache cleared, states, fences
 *     and timers restored from DynamoDB, every owned partition sought to its
 *     replay start (recovery-restore.ts), marks set to replay start - 1.
 * After the batch's writes and before its commit the marks advance (SET GET);
 * a mark that vanished or went back during the batch means the writes may have
 * landed on a master that had just lost its data: the batch is not committed,
 * its entities are rebuilt rather than trusted, and the check above runs again.
 *
 * A false positive (an upgrade from a release without marks, a new group on a
 * topic with history) is harmless: it costs one restore and one replay.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WindowEngine } from '../aggregations/engine.ts';
import { FeaturestreamError, type ErrorOptions } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Registry } from '../schemas/registry.ts';
import type { EntityRef, Keys } from '../stores/keys.ts';
import type { RedisClient } from '../stores/redis.ts';
import type { Admin, Consumer } from './kafka-client.ts';
import { topicPartition } from './backfill/handover.ts';
import type { BatchVersions } from './backfill/versions.ts';
import { RecoveryMarks, type NodeMark } from './recovery-marks.ts';
import { partitionPositions, restoreFromDynamo, type Suspect } from './recovery-restore.ts';
import { recoveryMetrics } from './recovery-metrics.ts';

/** What the batch runner calls (runner.ts `recovery`). */
export interface BatchRecovery {
  /** Before materializing; false = the partition was sought (or the batch went stale): write and commit nothing. */
  beforeBatch(topic: string, partition: number, firstOffset: number, payload: BatchControl): Promise<boolean>;
  /** After the batch's writes, before its commit; throws (retriable) when Redis lost data meanwhile. */
  afterWrite(topic: string, partition: number, lastOffset: number, refs: readonly EntityRef[], version: number): Promise<void>;
}

/** The parts of kafkajs' eachBatch payload a check needs. */
export interface BatchControl {
  heartbeat: () => Promise<void>;
  isStale: () => boolean;
}

export interface RecoveryOptions {
  redis: RedisClient;
  keys: Keys;
  registry: Registry;
  engine: Pick<WindowEngine, 'deserialize' | 'nextChangeAt'>;
  dynamo: DynamoDBClient;
  table: string;
  /** A connected admin client. */
  admin: () => Admin;
  consumer: () => Consumer;
  groupId: string;
  topics: string[];
  /** Partition numbers this member owns (co-partitioned across topics). */
  owned: () => Set<number>;
  /** Drops what the worker holds of Redis in memory: states (they may be newer than what Redis now holds) and the version view. */
  clearCache: () => void;
  clock: () => number;
  logger: Logger;
  /** Longest wait for other partitions' in-flight batches before restoring. */
  drainMs?: number;
  /**
   * Write-behind (checkpoints.ts): Redis holds states only as of each entity's last checkpoint, which the
   * marks (advanced per batch) do not date, so every recovery replays from the horizon, as after a total loss.
   */
  writeBehind?: boolean;
}

/** A batch's writes raced a Redis data loss: not committed; the batch is redone after the check. */
export class RedisDataLostError extends FeaturestreamError {
  constructor(message: string, options?: ErrorOptions) {
    super('REDIS_DATA_LOST', message, true, options);
  }
}

type Anomaly = 'lost' | 'rolled back' | 'suspects';

/** Low watermarks move only forward: a cached one errs towards treating a partition as having progress. */
const LOW_TTL_MS = 60_000;
const HEARTBEAT_EVERY_MS = 1_000;
const GAP_CONFIRMATIONS = 3;

export class Recovery implements BatchRecovery {
  private readonly marks: RecoveryMarks;
  private recovering: Promise<void> | undefined;
  /** Marks each running batch saw before writing, by topic:partition. */
  private readonly inFlight = new Map<string, NodeMark[]>();
  /** Where a partition was sought last: a first batch starting later means Kafka has no records in between. */
  private readonly sought = new Map<string, number>();
  private suspects: Suspect[] = [];
  /** Seeks per topic:partition: a batch that saw one of its partition while it waited was fetched before it. */
  private readonly seeks = new Map<string, number>();
  private readonly gapTries = new Map<string, { offset: number; count: number }>();
  private lows: { at: number; value: Map<string, number> } | undefined;
  /** Last offset this worker marked per topic:partition: what the watch expects the marks to hold at least. */
  private readonly written = new Map<string, { topic: string; partition: number; offset: number }>();
  private watchHandle: NodeJS.Timeout | undefined;
  private watching: Promise<void> | undefined;

  constructor(private readonly o: RecoveryOptions) {
    this.marks = new RecoveryMarks(o.redis, o.keys, o.groupId);
  }

  /** True while a recovery runs: the timer loop must not write then. */
  active(): boolean {
    return this.recovering !== undefined;
  }

  /** The timer loop's view of versions: no timer index while a recovery runs. */
  gateTimers(versions: Pick<BatchVersions, 'forTimers'>): Pick<BatchVersions, 'forTimers'> {
    return { forTimers: async () => (this.active() ? undefined : versions.forTimers()) };
  }

  async beforeBatch(topic: string, partition: number, firstOffset: number, { heartbeat, isStale }: BatchControl): Promise<boolean> {
    const tp = topicPartition(topic, partition);
    this.inFlight.delete(tp);
    const generation = this.seeks.get(tp);
    for (;;) {
      // A recovery sought this partition while the batch waited: its events are not to be written.
      if (isStale() || this.seeks.get(tp) !== generation) return false;
      if (this.recovering) {
        await this.waitFor(this.recovering, heartbeat);
        continue;
      }
      const marks = await this.marks.read(topic, partition);
      const anomaly = await this.anomaly(tp, marks, firstOffset);
      if (anomaly === 'fresh') {
        // A partition's very first batch: the marks start here, so a loss during it is seen after its writes.
        await this.marks.init(topic, partition, firstOffset - 1);
        continue;
      }
      if (anomaly === 'after seek') {
        if (!this.afterSeek(topic, partition, tp, firstOffset)) return false;
      } else if (anomaly !== undefined) {
        this.recovering ??= this.recover(topic, partition, firstOffset, anomaly, heartbeat).finally(() => (this.recovering = undefined));
        continue;
      }
      this.sought.delete(tp);
      this.gapTries.delete(tp);
      this.inFlight.set(tp, marks);
      return true;
    }
  }

  async afterWrite(topic: string, partition: number, lastOffset: number, refs: readonly EntityRef[], version: number): Promise<void> {
    const tp = topicPartition(topic, partition);
    const before = this.inFlight.get(tp) ?? [];
    this.inFlight.delete(tp);
    const previous = await this.marks.advance(topic, partition, lastOffset);
    const broken = previous.filter((p) => {
      const seen = before.find((b) => b.tag === p.tag)?.mark;
      return p.mark === undefined || (seen !== undefined && p.mark < seen);
    });
    if (broken.length === 0) {
      this.written.set(tp, { topic, partition, offset: lastOffset });
      return;
    }
    // Undo this advance, so the next check sees the loss or rollback as it is.
    for (const node of broken) await this.marks.reset(topic, partition, node);
    // Written onto a master that may have just lost them: rebuilt by the next restore, never trusted.
    for (const ref of refs) this.suspects.push({ ref, version });
    throw new RedisDataLostError(`redis lost data while a batch of ${tp} was written; redoing it after the recovery check`);
  }

  /**
   * What the marks of a partition at `position` say: undefined = nothing lost;
   * `fresh` = no marks yet and nothing before `position`; else the kind of loss.
   */
  private async anomaly(tp: string, marks: readonly NodeMark[], position: number): Promise<Anomaly | 'fresh' | 'after seek' | undefined> {
    if (this.suspects.length > 0) return 'suspects';
    if (marks.some((m) => m.mark === undefined)) return (await this.hasProgress(tp, position)) ? 'lost' : 'fresh';
    const behind = Math.min(...marks.map((m) => m.mark!));
    if (behind >= position - 1) return undefined;
    return this.sought.get(tp) === behind + 1 ? 'after seek' : 'rolled back';
  }

  /**
   * A batch past the offset a recovery sought to: either fetched before the seek
   * (kafkajs may hand it out after its next fetch consumed the seek) or Kafka
   * holds no records in between (compaction, transaction markers). Sought
   * again; only the same first offset three times in a row counts as a gap.
   */
  private afterSeek(topic: string, partition: number, tp: string, firstOffset: number): boolean {
    const tries = this.gapTries.get(tp);
    const count = tries?.offset === firstOffset ? tries.count + 1 : 1;
    if (count >= GAP_CONFIRMATIONS) {
      this.gapTries.delete(tp);
      return true;
    }
    this.gapTries.set(tp, { offset: firstOffset, count });
    this.seek(topic, partition, this.sought.get(tp)!);
    return false;
  }

  private async recover(topic: string, partition: number, position: number, anomaly: Anomaly, heartbeat: () => Promise<void>): Promise<void> {
    try {
      await this.restore(topic, partition, position, anomaly, heartbeat);
    } catch (err) {
      // DynamoDB, Kafka or Redis away: retriable, so the batch backs off and the next check recovers again.
      if (err instanceof FeaturestreamError && err.retriable) throw err;
      throw new RedisDataLostError(`recovery failed, retrying: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * A rollback restores from DynamoDB too: a rolled-back entity's `_version` can be
   * below the one DynamoDB already holds, and the rewarm script puts the newer
   * one back, so the replay moves both stores forward again.
   */
  private async restore(topic: string, partition: number, position: number, anomaly: Anomaly, heartbeat: () => Promise<void>): Promise<void> {
    const tp = topicPartition(topic, partition);
    const started = performance.now();
    const o = this.o;
    o.logger.warn({ trigger: tp, anomaly }, 'redis lost data this worker wrote; restoring from DynamoDB and replaying');
    await this.waitFor(this.drained(tp), heartbeat);
    o.clearCache();
    const suspects = this.suspects;
    const deps = { ...o, admin: o.admin() };
    const { version, summary } = await this.waitFor(restoreFromDynamo(deps, suspects), heartbeat);
    const positions = await partitionPositions(deps, new Set([...o.owned(), partition]), new Map([[tp, position]]));
    const replays: string[] = [];
    for (const p of positions) {
      const ptp = topicPartition(p.topic, p.partition);
      const marks = await this.marks.read(p.topic, p.partition);
      const lost = o.writeBehind === true || suspects.length > 0 || marks.some((m) => m.mark === undefined);
      const start = lost ? p.horizonStart : Math.min(p.position, ...marks.map((m) => m.mark! + 1));
      if (start >= p.position && !lost) continue;
      await this.marks.set(p.topic, p.partition, start - 1);
      this.written.set(ptp, { topic: p.topic, partition: p.partition, offset: start - 1 });
      // Sought even when start is the committed position: the fetch may be ahead of the commit.
      this.seek(p.topic, p.partition, start);
      replays.push(`${ptp}@${start}`);
    }
    this.suspects = this.suspects.slice(suspects.length);
    // Restored and sought; the cache may have picked up entries from batches that ran meanwhile.
    o.clearCache();
    recoveryMetrics.recoveries.inc({ anomaly });
    recoveryMetrics.duration.observe((performance.now() - started) / 1000);
    o.logger.warn({ version, restored: summary.restored, skippedNewer: summary.skippedNewer, suspects: suspects.length, replays }, 'redis restored from DynamoDB; replaying');
  }

  /**
   * Checks the marks of every partition this worker wrote, every `intervalMs`:
   * a partition that receives no more events would otherwise never notice that
   * Redis lost or rolled back what it wrote (nothing else reads its marks).
   */
  startWatch(intervalMs: number): void {
    this.watchHandle = setInterval(() => {
      this.watching ??= this.watchOnce()
        .catch((err: unknown) => this.o.logger.debug({ err }, 'recovery watch failed; retrying next tick'))
        .finally(() => (this.watching = undefined));
    }, intervalMs);
  }

  async stopWatch(): Promise<void> {
    clearInterval(this.watchHandle);
    await this.watching;
  }

  /** One pass of the watch; exported for tests that drive it themselves. */
  async watchOnce(): Promise<void> {
    if (this.recovering) return;
    const owned = this.o.owned();
    for (const [tp, w] of [...this.written]) {
      if (!owned.has(w.partition)) {
        this.written.delete(tp);
        continue;
      }
      if (this.recovering || this.written.get(tp) !== w) continue;
      const marks = await this.marks.read(w.topic, w.partition);
      // Advanced while reading: the newer expectation is checked next pass.
      if (this.written.get(tp) !== w) continue;
      const anomaly: Anomaly | undefined = marks.some((m) => m.mark === undefined) ? 'lost' : marks.some((m) => m.mark! < w.offset) ? 'rolled back' : undefined;
      if (anomaly === undefined) continue;
      this.recovering ??= this.recover(w.topic, w.partition, w.offset + 1, anomaly, async () => undefined).finally(() => (this.recovering = undefined));
      await this.recovering.catch(() => undefined);
      return;
    }
  }

  /** Other partitions' batches that passed their check finish (or fail) their writes first, bounded. */
  private async drained(except: string): Promise<void> {
    const until = performance.now() + (this.o.drainMs ?? 60_000);
    while (performance.now() < until && [...this.inFlight.keys()].some((tp) => tp !== except)) await sleep(50);
  }

  private seek(topic: string, partition: number, offset: number): void {
    const tp = topicPartition(topic, partition);
    this.seeks.set(tp, (this.seeks.get(tp) ?? 0) + 1);
    this.sought.set(tp, offset);
    this.o.consumer().seek({ topic, partition, offset: String(offset) });
  }

  private async hasProgress(tp: string, firstOffset: number): Promise<boolean> {
    const now = performance.now();
    if (!this.lows || now - this.lows.at > LOW_TTL_MS || !this.lows.value.has(tp)) {
      const value = new Map<string, number>();
      for (const topic of this.o.topics) {
        for (const p of await this.o.admin().fetchTopicOffsets(topic)) value.set(topicPartition(topic, p.partition), Number(p.low));
      }
      this.lows = { at: now, value };
    }
    return firstOffset > (this.lows.value.get(tp) ?? 0);
  }

  /** Awaits `work`, heartbeating meanwhile so the group keeps this member. */
  private async waitFor<T>(work: Promise<T>, heartbeat: () => Promise<void>): Promise<T> {
    let done = false;
    const result = work.finally(() => (done = true));
    while (!done) {
      await Promise.race([result.catch(() => undefined), sleep(HEARTBEAT_EVERY_MS)]);
      if (!done) await heartbeat().catch(() => undefined);
    }
    return result;
  }
}
