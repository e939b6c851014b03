import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, Producer } from '../consumers/kafka-client.ts';
import type { SyntheticEvent } from './workload.ts';

/** Creates the source topics and their dead-letter topics (existing ones are left as they are). */
export async function ensureTopics(admin: Admin, topics: string[], partitions: number): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const wanted = topics.flatMap((t) => [t, `${t}.dlq`]).filter((t) => !existing.has(t));
  if (wanted.length === 0) return;
  await admin.createTopics({
    waitForLeaders: true,
    topics: wanted.map((topic) => ({ topic, numPartitions: topic.endsWith('.dlq') ? 1 : partitions })),
  });
}

/** Sends events in batches of `batchSize`, one sendBatch per batch; returns how many were sent. */
export async function produceEvents(
  producer: Producer,
  events: Iterator<SyntheticEvent>,
  count: number,
  onProgress: (sent: number) => void,
  batchSize = 2_000,
): Promise<number> {
  let sent = 0;
  while (sent < count) {
    const byTopic = new Map<string, Array<{ key: string; value: string }>>();
    const n = Math.min(batchSize, count - sent);
    for (let i = 0; i < n; i++) {
      const ev = events.next().value as SyntheticEvent;
      let list = byTopic.get(ev.topic);
      if (!list) byTopic.set(ev.topic, (list = []));
      list.push({ key: ev.key, value: ev.value });
    }
    await producer.sendBatch({ topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
    sent += n;
    onProgress(sent);
  }
  return sent;
}

export interface PartitionEnd {
  low: number;
  high: number;
}

/** The first and next offsets of every partition of `topics`, by `topic:partition`. */
export async function topicEnds(admin: Admin, topics: string[]): Promise<Map<string, PartitionEnd>> {
  const ends = new Map<string, PartitionEnd>();
  for (const topic of topics) {
    for (const p of await admin.fetchTopicOffsets(topic)) ends.set(`${topic}:${p.partition}`, { low: Number(p.low), high: Number(p.high) });
  }
  return ends;
}

/**
 * Resolves once the group has committed every partition up to `ends`, polling every `intervalMs`
 * (one round trip each); the time it resolves is at most one interval plus a round trip late.
 */
export async function untilCommitted(admin: Admin, groupId: string, ends: ReadonlyMap<string, PartitionEnd>, intervalMs: number): Promise<void> {
  const topics = [...new Set([...ends.keys()].map((tp) => tp.slice(0, tp.lastIndexOf(':'))))];
  for (;;) {
    const committed = await admin.fetchOffsets({ groupId, topics });
    const behind = committed.some(({ topic, partitions }) =>
      partitions.some((p) => {
        const end = ends.get(`${topic}:${p.partition}`);
        // An empty partition has nothing to commit (its committed offset stays -1).
        return end !== undefined && Math.max(Number(p.offset), end.low) < end.high;
      }),
    );
    if (!behind) return;
    await sleep(intervalMs);
  }
}
