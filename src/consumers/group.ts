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
import type { Consumer, EachBatchPayload, Kafka } from './kafka-client.ts';
import { coPartitionedAssigner } from './assigner.ts';

export interface GroupOptions {
  kafka: Kafka;
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

  constructor(private readonly o: GroupOptions) {}

  /** The live consumer (replaced after an unrecoverable crash). */
  consumer(): Consumer {
    if (!this.current) throw new Error('consumer group member is not started');
    return this.current;
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
      this.assignment = e.payload.memberAssignment;
      this.o.logger.info({ assignment: e.payload.memberAssignment, memberId: e.payload.memberId }, 'joined consumer group');
    });
    consumer.on(REBALANCING, () => {
      this.assignment = {};
    });
    consumer.on(STOP, () => {
      this.assignment = {};
    });
    consumer.on(CRASH, (e) => {
      this.assignment = {};
      workerMetrics.consumerCrashes.inc({ restart: String(e.payload.restart) });
      this.o.logger.error({ err: e.payload.error, restart: e.payload.restart }, 'kafka consumer crashed');
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

  /** Finishes the running batches (which commit), then leaves the group. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.rebuilding;
    await this.current?.disconnect();
    this.assignment = {};
  }
}
