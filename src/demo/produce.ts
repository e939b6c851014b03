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

/** Sum of the group's committed offsets over the high watermarks of `topics`: 0 when fully caught up. */
export async function groupLag(admin: Admin, groupId: string, topics: string[]): Promise<number> {
  let lag = 0;
  const committed = await admin.fetchOffsets({ groupId, topics });
  for (const topic of topics) {
    const ends = await admin.fetchTopicOffsets(topic);
    const done = committed.find((c) => c.topic === topic)?.partitions ?? [];
    for (const end of ends) {
      const c = Number(done.find((p) => p.partition === end.partition)?.offset ?? -1);
      lag += Number(end.high) - Math.max(c, Number(end.low));
    }
  }
  return lag;
}
