/**
 * Write-behind checkpoints. With `checkpointIntervalMs` set, a batch writes
 * vectors only (materializer.ts, `writeBehind`) and its entities' states stay
 * dirty in memory, authoritative for the partitions whose epoch this worker
 * holds. Every interval, once a partition's batches carried `maxEvents` events
 * since its last checkpoint, and on a graceful stop, a partition's checkpoint
 *   1. writes its dirty states (with their applied-offset fences; replicas
 *      acknowledge them when configured),
 *   2. hands the entities to the DynamoDB sync (durably queued),
 *   3. commits its batches' offsets to Kafka.
 * So the committed offset of a partition never passes its checkpoint. After a
 * crash the next owner loads the checkpointed states and Kafka replays from
 * the committed offsets: events a state already holds are behind its offset
 * fence, the rest are applied once, and the vectors end exact. While the
 * replay runs, a served vector can step back: the crashed worker's vectors
 * were ahead of its checkpoint, and the replay writes the intermediate states
 * again until it reaches each entity's last event. (Skipping writes up to the
 * recovery marks is unsound here: marks are per topic-partition, a vector
 * holds every topic of its entity, so one topic's replayed write can drop
 * another topic's events that a later skip would then never put back.)
 *
 * A rebalance checkpoints nothing: kafkajs' eager protocol revokes the
 * partitions before any hook runs, and a commit of the old generation is
 * refused. The next owner replays from the last checkpoint; this worker drops
 * its dirty states of the partition at its next checkpoint attempt.
 */
import { FeaturestreamError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { EntityRef } from '../stores/keys.ts';
import { checkpointMetrics } from './checkpoint-metrics.ts';
import type { Materializer } from './materializer.ts';
import type { PartitionLock } from './partition-lock.ts';
import { IntervalTask } from './interval-task.ts';

export interface CheckpointsOptions {
  materializer: Pick<Materializer, 'checkpoint' | 'dirtyPartitions' | 'dirtyCount' | 'dropPartition'>;
  lock: PartitionLock;
  /** DynamoDB dual-write: entities of a checkpoint are enqueued before its offsets commit. */
  sync?: { enqueue(keyspaceVersion: number, refs: readonly EntityRef[]): Promise<void> };
  /** Queues the commit of the offset after `lastOffset` (GroupMember.commitAfter). */
  commit: (topic: string, partition: number, lastOffset: string, isStale: () => boolean) => void;
  clock: () => number;
  logger: Logger;
  intervalMs: number;
  /** Events of a partition since its checkpoint that make its next batch checkpoint. */
  maxEvents: number;
}

interface Uncommitted {
  lastOffset: string;
  isStale: () => boolean;
}

export class Checkpoints {
  /** partition -> topic -> the last batch written since the partition's checkpoint. */
  private readonly uncommitted = new Map<number, Map<string, Uncommitted>>();
  private readonly events = new Map<number, number>();
  /** Entities checkpointed but not yet handed to the sync (its queue was down), per partition and keyspace version. */
  private readonly unsynced = new Map<number, Map<number, EntityRef[]>>();
  private readonly loop: IntervalTask;
  private failures = 0;

  constructor(private readonly o: CheckpointsOptions) {
    this.loop = new IntervalTask(() => this.flushAll(), o.intervalMs);
  }

  start(): void {
    this.loop.start();
  }

  /** Graceful stop (batches stopped first): every partition is checkpointed and its offsets queued for commit. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await this.flushAll();
  }

  /** After a batch's vectors are written; called inside the partition's lock. */
  async afterBatch(topic: string, partition: number, lastOffset: string, isStale: () => boolean, events: number): Promise<void> {
    let topics = this.uncommitted.get(partition);
    if (!topics) this.uncommitted.set(partition, (topics = new Map()));
    topics.set(topic, { lastOffset, isStale });
    const total = (this.events.get(partition) ?? 0) + events;
    this.events.set(partition, total);
    if (total >= this.o.maxEvents) await this.flushLogged(partition);
  }

  /** Memory was cleared after a Redis data loss: offsets not checkpointed must never commit. */
  forget(): void {
    this.uncommitted.clear();
    this.events.clear();
  }

  /** Checkpoints every partition with dirty states or uncommitted batches, one after another. */
  async flushAll(): Promise<void> {
    const partitions = new Set([...this.uncommitted.keys(), ...this.o.materializer.dirtyPartitions(), ...this.unsynced.keys()]);
    for (const p of partitions) await this.o.lock.run(p, () => this.flushLogged(p));
    checkpointMetrics.dirty.set(this.o.materializer.dirtyCount());
  }

  private async flushLogged(partition: number): Promise<void> {
    try {
      await this.flush(partition);
      this.failures = 0;
      checkpointMetrics.checkpoints.inc({ outcome: 'written' });
    } catch (err) {
      if (err instanceof FeaturestreamError && err.code === 'FENCED') {
        // Not this worker's partition any more: its batches are the next owner's to redo, from the
        // checkpoint (Kafka redelivers from the committed offset, also if it comes back here).
        this.uncommitted.delete(partition);
        this.events.delete(partition);
        this.o.materializer.dropPartition(partition);
        checkpointMetrics.checkpoints.inc({ outcome: 'fenced' });
        return;
      }
      checkpointMetrics.checkpoints.inc({ outcome: 'failed' });
      this.failures += 1;
      if (this.failures === 1 || this.failures % 30 === 0) this.o.logger.warn({ err, partition, failures: this.failures }, 'checkpoint failed; retrying');
    }
  }

  /** The caller holds the partition's lock. */
  private async flush(partition: number): Promise<void> {
    const started = performance.now();
    const commits = this.uncommitted.get(partition);
    const written = await this.o.materializer.checkpoint(partition, this.o.clock());
    const unsynced = this.unsynced.get(partition) ?? new Map<number, EntityRef[]>();
    for (const [version, refs] of written) unsynced.set(version, [...(unsynced.get(version) ?? []), ...refs]);
    this.unsynced.set(partition, unsynced);
    for (const [version, refs] of unsynced) {
      if (refs.length > 0) await this.o.sync?.enqueue(version, refs);
      unsynced.delete(version);
    }
    this.unsynced.delete(partition);
    // Batches that arrived meanwhile cannot exist (the lock), so every recorded one is checkpointed.
    for (const [topic, c] of commits ?? []) this.o.commit(topic, partition, c.lastOffset, c.isStale);
    this.uncommitted.delete(partition);
    this.events.delete(partition);
    checkpointMetrics.duration.observe(performance.now() - started);
  }
}
