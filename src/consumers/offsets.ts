/**
 * Kafka offset handling. autoCommit is off: a batch's next offset is committed
 * explicitly once its effects are durable, so a crash can only cause redelivery
 * (which the per-entity fence absorbs), never loss.
 */
import type { Consumer, TopicPartitionOffsetAndMetadata } from './kafka-client.ts';
import type { Logger } from '../logger.ts';
import { workerMetrics } from '../metrics.ts';

/** Kafka commits the next offset to read: last processed + 1. */
export function nextOffset(offset: string): string {
  return (BigInt(offset) + 1n).toString();
}

export async function commitBatch(consumer: Consumer, topic: string, partition: number, lastOffset: string): Promise<void> {
  await consumer.commitOffsets([{ topic, partition, offset: nextOffset(lastOffset) }]);
}

export function updateLag(topic: string, partition: number, highWatermark: string, lastOffset: string): void {
  const lag = BigInt(highWatermark) - BigInt(nextOffset(lastOffset));
  workerMetrics.consumerLag.set({ topic, partition: String(partition) }, Number(lag < 0n ? 0n : lag));
}

export interface CommitRequest {
  topic: string;
  partition: number;
  /** The batch's last offset, durably applied. */
  lastOffset: string;
  /** Asked just before sending: false drops the offset (the partition was lost or sought meanwhile). */
  valid: () => boolean;
}

/**
 * Commits in the background, one request at a time, so a batch does not wait
 * for its commit before the next fetch: the broker answers one connection's
 * requests in order, so per-partition commits of concurrent batches would
 * queue behind each other anyway. Offsets requested while a commit is in
 * flight go out together in the next one, the newest per partition. A failed
 * commit is not retried here: the partition's next commit covers it, or the
 * next owner redoes the batch behind the fence.
 */
export class OffsetCommitter {
  private readonly pending = new Map<string, CommitRequest>();
  private draining = false;
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly commit: (offsets: TopicPartitionOffsetAndMetadata[]) => Promise<void>,
    private readonly logger: Logger,
  ) {}

  request(r: CommitRequest): void {
    this.pending.set(`${r.topic}\u0000${r.partition}`, r);
    if (!this.draining) this.done = this.drain();
  }

  /** Resolves once every requested offset has been sent (or dropped). */
  async flush(): Promise<void> {
    while (this.draining) await this.done;
  }

  private async drain(): Promise<void> {
    // Set and cleared synchronously with the emptiness check: a request never finds a loop that already decided to stop.
    this.draining = true;
    try {
      while (this.pending.size > 0) {
        const due = [...this.pending.values()].filter((r) => r.valid());
        this.pending.clear();
        if (due.length === 0) continue;
        try {
          await this.commit(due.map((r) => ({ topic: r.topic, partition: r.partition, offset: nextOffset(r.lastOffset) })));
        } catch (err) {
          workerMetrics.commitFailures.inc();
          this.logger.debug({ err, partitions: due.map((r) => `${r.topic}:${r.partition}`) }, 'offset commit failed; a later commit or the next owner covers it');
        }
      }
    } finally {
      this.draining = false;
    }
  }
}
