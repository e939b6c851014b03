/**
 * Kafka offset handling. autoCommit is off: a batch's next offset is committed
 * explicitly once its effects are durable, so a crash can only cause redelivery
 * (which the per-entity fence absorbs), never loss.
 */
import type { Consumer } from './kafka-client.ts';
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
