/**
 * Dead-lettering: a message that can never be processed goes, unchanged, to
 * `<topic>.dlq` with headers saying why and where it came from; the partition
 * then moves on. Sent before the batch's Redis write so a crash in between
 * re-sends (a duplicate dead letter) rather than losing it.
 */
import type { IHeaders, KafkaMessage, Producer } from './kafka-client.ts';
import type { FeaturestreamError } from '../errors.ts';
import { workerMetrics } from '../metrics.ts';

export const DLQ_SUFFIX = '.dlq';
export const DLQ_HEADERS = {
  code: 'fs-error-code',
  reason: 'fs-error-reason',
  topic: 'fs-source-topic',
  partition: 'fs-source-partition',
  offset: 'fs-source-offset',
} as const;

/** Kafka headers are small; a zod report on a huge message could be long. */
const MAX_REASON_CHARS = 1_000;

export interface DeadLetter {
  topic: string;
  partition: number;
  message: KafkaMessage;
  /** Bad input (EVENT_*), or the quarantine of its entity (STATE_CORRUPT, STORE_REJECTED). */
  error: FeaturestreamError;
}

export function deadLetterTopic(topic: string): string {
  return `${topic}${DLQ_SUFFIX}`;
}

export function deadLetterHeaders(d: DeadLetter): IHeaders {
  return {
    ...d.message.headers,
    [DLQ_HEADERS.code]: d.error.code,
    [DLQ_HEADERS.reason]: d.error.message.slice(0, MAX_REASON_CHARS),
    [DLQ_HEADERS.topic]: d.topic,
    [DLQ_HEADERS.partition]: String(d.partition),
    [DLQ_HEADERS.offset]: d.message.offset,
  };
}

export class DeadLetterSink {
  constructor(private readonly producer: Producer) {}

  /** Resolves once every dead letter is acknowledged by the brokers (acks = all). */
  async send(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const byTopic = new Map<string, DeadLetter[]>();
    for (const d of letters) {
      const list = byTopic.get(d.topic) ?? [];
      list.push(d);
      byTopic.set(d.topic, list);
    }
    await this.producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, list]) => ({
        topic: deadLetterTopic(topic),
        messages: list.map((d) => ({ key: d.message.key, value: d.message.value, headers: deadLetterHeaders(d) })),
      })),
    });
    for (const d of letters) workerMetrics.eventsDeadLettered.inc({ topic: d.topic, code: d.error.code });
  }
}
