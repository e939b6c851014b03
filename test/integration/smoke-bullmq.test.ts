import { describe, expect, it, onTestFinished } from 'vitest';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { endpoints, testRedis } from '../helpers/services.ts';
import { randomName } from '../helpers/names.ts';

describe('BullMQ smoke (real Redis)', () => {
  it('round-trips a job through a queue and a worker', async () => {
    await testRedis();
    const url = new URL(endpoints().redisUrl);
    const connection = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
    const name = randomName('fs-queue');
    const queue = new Queue(name, { connection });
    const events = new QueueEvents(name, { connection });
    const worker = new Worker(name, async (job) => ({ doubled: (job.data as { n: number }).n * 2 }), { connection });
    onTestFinished(async () => {
      await worker.close();
      await events.close();
      await queue.obliterate({ force: true });
      await queue.close();
    });
    await events.waitUntilReady();
    const job = await queue.add('double', { n: 21 });
    await expect(job.waitUntilFinished(events, 20_000)).resolves.toEqual({ doubled: 42 });
  });
});
