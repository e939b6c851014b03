/**
 * The backfill's eachBatch handler: the live runner's path (decode, the same
 * Materializer with its fenced writes, commit after durability) with what a
 * replay adds: skipping messages that cannot matter before decoding them, a
 * rate limit, and a per-batch report (progress, handover position).
 *
 * Invalid events are counted, not dead-lettered: the live worker dead-lettered
 * them already when they first arrived.
 */
import type { Logger } from '../../logger.ts';
import type { Registry } from '../../schemas/registry.ts';
import type { Consumer, EachBatchPayload, KafkaMessage } from '../kafka-client.ts';
import type { Materializer } from '../materializer.ts';
import type { PartitionLock } from '../partition-lock.ts';
import { retryWhileUnavailable } from '../backoff.ts';
import { commitBatch } from '../offsets.ts';
import { decodeBatch } from '../runner.ts';
import type { ReplayFilter } from './filter.ts';
import type { RateLimiter } from './rate.ts';
import { backfillMetrics } from './metrics.ts';

export interface BatchReport {
  topic: string;
  partition: number;
  /** Offset after the batch's last message: everything before it is in the target version. */
  nextOffset: number;
  replayed: number;
}

export interface ReplayDeps {
  registry: Registry;
  materializer: Materializer;
  lock: PartitionLock;
  consumer: () => Consumer;
  filter: ReplayFilter;
  limiter?: RateLimiter;
  clock: () => number;
  logger: Logger;
  maxFutureSkewMs: number;
  running: () => boolean;
  /** Stops fetching a partition that reached its end offset. */
  pause: (topic: string, partition: number) => void;
  /** Called after the batch is committed; may write to Redis (the handover position). */
  onBatch: (report: BatchReport) => Promise<void>;
}

export function createReplayHandler(d: ReplayDeps): (payload: EachBatchPayload) => Promise<void> {
  return async (payload) => {
    const { batch, heartbeat, isRunning, isStale } = payload;
    if (batch.messages.length === 0) return;
    await d.lock.run(batch.partition, async () => {
      const keepGoing = () => d.running() && isRunning() && !isStale();
      if (!keepGoing()) return;
      // A bounded replay stops each partition at its end offset: paused, committed up to the end and no further,
      // so a later unbound (hand over after --to) resumes exactly there.
      const end = d.filter.end(batch.topic, batch.partition);
      const inRange = end === undefined ? batch.messages : batch.messages.filter((m) => Number(m.offset) < end);
      if (inRange.length < batch.messages.length) d.pause(batch.topic, batch.partition);
      const lastInRange = inRange.at(-1);
      if (!lastInRange) return;
      const startNow = d.clock();
      const kept: KafkaMessage[] = inRange.filter((m) => d.filter.keepMessage(batch.topic, m, startNow));
      countSkipped('before_decode', inRange.length - kept.length);
      if (kept.length > 0) await d.limiter?.take(kept.length, heartbeat, keepGoing);
      const outcome = await retryWhileUnavailable(
        async () => {
          if (kept.length === 0) return;
          const nowMs = d.clock();
          const { works, dead } = decodeBatch({ batch: { ...batch, messages: kept } }, d.registry, nowMs, d.maxFutureSkewMs);
          let old = 0;
          for (const work of works) {
            const before = work.events.length;
            work.events = work.events.filter((e) => d.filter.keepEvent(batch.topic, e.event, nowMs));
            old += before - work.events.length;
          }
          await d.materializer.run(
            works.filter((w) => w.events.length > 0),
            nowMs,
            { deadLetter: async (more) => countSkipped('invalid', more.length), progress: heartbeat },
          );
          countSkipped('invalid', dead.length);
          countSkipped('after_decode', old);
        },
        { keepGoing, between: heartbeat, logger: d.logger },
      );
      if (!outcome.done || isStale()) return;
      payload.resolveOffset(lastInRange.offset);
      await commitBatch(d.consumer(), batch.topic, batch.partition, lastInRange.offset);
      backfillMetrics.eventsReplayed.inc({ topic: batch.topic }, kept.length);
      await d.onBatch({
        topic: batch.topic,
        partition: batch.partition,
        nextOffset: Number(lastInRange.offset) + 1,
        replayed: kept.length,
      });
      await heartbeat();
    });
  };
}

function countSkipped(reason: 'before_decode' | 'after_decode' | 'invalid', n: number): void {
  if (n > 0) backfillMetrics.eventsSkipped.inc({ reason }, n);
}
