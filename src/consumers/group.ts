/**
 * Consumer-group membership: creates the kafkajs consumer, tracks which
 * partitions this member owns, and keeps consuming through broker restarts.
 * kafkajs restarts itself after retriable crashes; after any other crash
 * (CRASH with restart=false) the consumer is rebuilt here after a backoff, so
 * the process never needs to exit to recover.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.ts';
import { workerMetrics } from '../metrics.ts';
import { isTransientKafkaError, type Consumer, type EachBatchPayload, type Kafka } from './kafka-client.ts';
import { coPartitionedAssigner } from './assigner.ts';
import { OffsetCommitter } from './offsets.ts';

export interface GroupOptions {
  kafka: Pick<Kafka, 'consumer'>;
  groupId: string;
  topics: string[];
  eachBatch: (payload: EachBatchPayload) => Promise<void>;
  logger: Logger;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  partitionsConsumedConcurrently: number;
}

const REBUILD_DELAY_MS = 2_000;

export class GroupMember {
  private current: Consumer | undefined;
  private assignment: Record<string, number[]> = {};
  private stopping = false;
  private rebuilding: Promise<void> | undefined;
  /** Moves on every join, rebalance, crash and stop: a commit requested before it is not sent. */
  private generation = 0;
  private readonly committer: OffsetCommitter;

  constructor(private readonly o: GroupOptions) {
    this.committer = new OffsetCommitter((offsets) => this.consumer().commitOffsets(offsets), o.logger);
  }

  /**
   * Commits the offset after `lastOffset` in the background (offsets.ts); dropped when the
   * partition is sought (`isStale`) or the group changes before it is sent.
   */
  commitAfter(topic: string, partition: number, lastOffset: string, isStale: () => boolean): void {
    const generation = this.generation;
    this.committer.request({ topic, partition, lastOffset, valid: () => this.generation === generation && !isStale() });
  }

  /** The live consumer (replaced after an unrecoverable crash). */
  consumer(): Consumer {
    if (!this.current) throw new Error('consumer group member is not started');
    return this.current;
  }

  /** Moves on every join, rebalance, crash and stop (partition epochs are taken once per generation). */
  generationNumber(): number {
    return this.generation;
  }

  /** Kafka partition numbers this member owns in any subscribed topic (for timers). */
  ownedPartitions(): Set<number> {
    return new Set(Object.values(this.assignment).flat());
  }

  joined(): boolean {
    return Object.keys(this.assignment).length > 0;
  }

  async start(): Promise<void> {
    const consumer = this.o.kafka.consumer({
      groupId: this.o.groupId,
      partitionAssigners: [coPartitionedAssigner],
      sessionTimeout: this.o.sessionTimeoutMs,
      heartbeatInterval: this.o.heartbeatIntervalMs,
      allowAutoTopicCreation: false,
      // Bigger fetches while a backlog drains: more events per entity per batch means
      // fewer state round trips and Lua writes per event. Live traffic still arrives
      // in small batches (the broker answers as soon as anything is there).
      maxBytesPerPartition: 8 * 1024 * 1024,
      maxBytes: 32 * 1024 * 1024,
    });
    this.current = consumer;
    const { GROUP_JOIN, REBALANCING, CRASH, STOP } = consumer.events;
    consumer.on(GROUP_JOIN, (e) => {
      this.generation += 1;
      this.assignment = e.payload.memberAssignment;
      this.o.logger.info({ assignment: e.payload.memberAssignment, memberId: e.payload.memberId }, 'joined consumer group');
    });
    consumer.on(REBALANCING, () => {
      this.generation += 1;
      this.assignment = {};
    });
    consumer.on(STOP, () => {
      this.generation += 1;
      this.assignment = {};
    });
    consumer.on(CRASH, (e) => {
      this.generation += 1;
      this.assignment = {};
      workerMetrics.consumerCrashes.inc({ restart: String(e.payload.restart) });
      const transient = e.payload.restart && isTransientKafkaError(e.payload.error);
      this.o.logger[transient ? 'info' : 'error']({ err: e.payload.error, restart: e.payload.restart }, 'kafka consumer crashed');
      if (!e.payload.restart && !this.stopping) this.rebuilding = this.rebuild(consumer);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: this.o.topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.o.partitionsConsumedConcurrently,
      eachBatch: this.o.eachBatch,
    });
  }

  private async rebuild(crashed: Consumer): Promise<void> {
    await crashed.disconnect().catch(() => undefined);
    for (let attempt = 1; !this.stopping; attempt++) {
      await sleep(REBUILD_DELAY_MS);
      if (this.stopping) return;
      try {
        await this.start();
        this.o.logger.info({ attempt }, 'kafka consumer rebuilt');
        return;
      } catch (err) {
        this.o.logger.warn({ err, attempt }, 'kafka consumer rebuild failed; retrying');
        await this.current?.disconnect().catch(() => undefined);
      }
    }
  }

  /** Sends the commits still queued, finishes the running batches, then leaves the group. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.rebuilding;
    // The caller stopped new batches from committing first; kafkajs drops commits once it stops.
    await this.committer.flush();
    await this.current?.disconnect();
    this.assignment = {};
  }
}
