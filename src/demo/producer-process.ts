/**
 * The demo's producer, in a process of its own: it stands in for the applications that write to
 * Kafka, and keeps their CPU (generating and encoding events) off the event loop of the worker the
 * demo times. run.ts forks it with the job as JSON in argv; it reports over IPC, and with `follow`
 * keeps streaming until it is told to stop.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { loadEnvConfig } from '../config.ts';
import { createKafka, Partitioners } from '../consumers/kafka-client.ts';
import { produceEvents } from './produce.ts';
import { syntheticEvents, type SyntheticEvent } from './workload.ts';

export interface ProducerJob {
  events: number;
  users: number;
  seed: number;
  startMs: number;
  stepMs: number;
  /** Topic of each workload source. */
  topics: Record<SyntheticEvent['source'], string>;
  follow: boolean;
}

export type ProducerMessage =
  | { type: 'started'; at: number }
  | { type: 'progress'; sent: number }
  /** `at`: the last event's acknowledgement. */
  | { type: 'done'; sent: number; at: number };

const job = JSON.parse(process.argv[2] ?? '{}') as ProducerJob;
const report = (m: ProducerMessage) => process.send?.(m);
let stopping = false;
process.once('message', () => (stopping = true));
process.once('disconnect', () => (stopping = true));

const kafka = createKafka({ env: loadEnvConfig(), clientId: 'featurestream-demo-producer' });
// Kafka's own (murmur2) partitioner: the same key lands on the same partition number in every topic.
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
await producer.connect();
const events = syntheticEvents({ users: job.users, startMs: job.startMs, stepMs: job.stepMs, seed: job.seed, topicOf: (source) => job.topics[source] });
report({ type: 'started', at: Date.now() });
const sent = await produceEvents(producer, events, job.events, (n) => report({ type: 'progress', sent: n }));
report({ type: 'done', sent, at: Date.now() });
while (job.follow && !stopping) {
  await produceEvents(producer, events, 100, () => undefined, 100);
  await sleep(500);
}
await producer.disconnect();
process.disconnect?.();
