/**
 * Kafka offsets of a replay: start and end offsets found by time, the
 * backfill group's starting point (set only while the group is empty, as
 * kafkajs requires), and how far the group is from its target.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceUnavailableError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { Admin } from '../kafka-client.ts';
import { topicPartition } from './handover.ts';

export type Offsets = Record<string, number>;

/** `earliest` = the low watermarks; a time = the first offset at or after it (the high watermark when none is). */
export async function offsetsAt(admin: Admin, topics: string[], at: 'earliest' | number): Promise<Offsets> {
  const out: Offsets = {};
  for (const topic of topics) {
    if (at === 'earliest') {
      for (const p of await admin.fetchTopicOffsets(topic)) out[topicPartition(topic, p.partition)] = Number(p.low);
    } else {
      for (const p of await admin.fetchTopicOffsetsByTimestamp(topic, at)) out[topicPartition(topic, p.partition)] = Number(p.offset);
    }
  }
  return out;
}

export async function highWatermarks(admin: Admin, topics: string[]): Promise<Offsets> {
  const out: Offsets = {};
  for (const topic of topics) for (const p of await admin.fetchTopicOffsets(topic)) out[topicPartition(topic, p.partition)] = Number(p.high);
  return out;
}

/** Next offset the group will read per partition; -1 where it never committed. */
export async function committedOffsets(admin: Admin, groupId: string, topics: string[]): Promise<Offsets> {
  const out: Offsets = {};
  for (const { topic, partitions } of await admin.fetchOffsets({ groupId, topics })) {
    for (const p of partitions) out[topicPartition(topic, p.partition)] = Number(p.offset);
  }
  return out;
}

/**
 * Points the backfill group at `start` for every partition it never committed;
 * partitions with a commit resume from it. setOffsets needs an empty group: after
 * a kill the dead member stays until its session times out, so this waits.
 */
export async function prepareGroup(
  admin: Admin,
  groupId: string,
  topics: string[],
  start: Offsets,
  o: { logger: Logger; timeoutMs: number },
): Promise<Offsets> {
  const committed = await committedOffsets(admin, groupId, topics);
  const missing = Object.keys(start).filter((tp) => (committed[tp] ?? -1) < 0);
  if (missing.length === 0) return committed;
  const deadline = Date.now() + o.timeoutMs;
  for (const topic of topics) {
    const partitions = missing
      .filter((tp) => tp.slice(0, tp.lastIndexOf(':')) === topic)
      .map((tp) => ({ partition: Number(tp.slice(tp.lastIndexOf(':') + 1)), offset: String(start[tp]) }));
    if (partitions.length === 0) continue;
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.setOffsets({ groupId, topic, partitions });
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new ServiceUnavailableError('kafka', `could not set the offsets of group ${groupId}: ${(err as Error).message}`, { cause: err });
        if (attempt === 1) o.logger.info({ groupId, err: (err as Error).message }, 'waiting for the backfill group to be empty');
        await sleep(1_000);
      }
    }
  }
  return { ...committed, ...Object.fromEntries(missing.map((tp) => [tp, start[tp]!])) };
}

/** Messages between `at` and `target` summed over partitions (never negative per partition). */
export function lagTo(at: Offsets, target: Offsets): number {
  let lag = 0;
  for (const [tp, end] of Object.entries(target)) lag += Math.max(0, end - Math.max(0, at[tp] ?? 0));
  return lag;
}
