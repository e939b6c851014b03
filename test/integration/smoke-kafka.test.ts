import { describe, expect, it } from 'vitest';
import { testKafka } from '../helpers/services.ts';
import { randomName } from '../helpers/names.ts';
import { waitFor } from '../helpers/wait.ts';
import type { Consumer, Kafka } from '../../src/consumers/kafka-client.ts';

async function consumeAll(kafka: Kafka, topic: string, groupId: string, stopAfter: number): Promise<{ values: string[]; consumer: Consumer }> {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const values: string[] = [];
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch, resolveOffset }) => {
      for (const m of batch.messages) {
        if (values.length >= stopAfter) break;
        values.push(m.value?.toString() ?? '');
        resolveOffset(m.offset);
        await consumer.commitOffsets([{ topic, partition: batch.partition, offset: (BigInt(m.offset) + 1n).toString() }]);
      }
    },
  });
  await waitFor(`${stopAfter} messages from ${topic}`, () => values.length >= stopAfter);
  return { values, consumer };
}

describe('Kafka smoke (real broker)', () => {
  it('a consumer group consumes produced messages, commits, and a restarted consumer resumes after the commit', async () => {
    const { kafka, admin, createTopic } = await testKafka();
    const topic = await createTopic(1);
    const groupId = randomName('fs-group');
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `m${i}` })) });

    const first = await consumeAll(kafka, topic, groupId, 6);
    expect(first.values).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    await first.consumer.disconnect();

    const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
    expect(committed[0]?.partitions[0]?.offset).toBe('6');

    const second = await consumeAll(kafka, topic, groupId, 4);
    expect(second.values).toEqual(['m6', 'm7', 'm8', 'm9']);
    await second.consumer.disconnect();
    await producer.disconnect();
  });
});
