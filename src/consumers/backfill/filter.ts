/**
 * What a replay may skip without changing any vector: events too old to
 * count in any window, last value, or de-duplication check still able to
 * affect one; and where a bounded replay ends. Kafka message timestamps
 * decide before decoding; the decoded event time decides the rest.
 */
import type { Registry } from '../../schemas/registry.ts';
import type { NormalizedEvent } from '../../schemas/events.ts';
import type { KafkaMessage } from '../kafka-client.ts';
import { topicPartition } from './handover.ts';

/**
 * How far back an event of each source topic can still change a vector: the
 * longest window plus a tile (a tile straddling the window edge still counts)
 * or TTL among the features it feeds, plus the de-duplication horizon (an old
 * event id can mark a newer copy a duplicate).
 */
export function relevanceHorizons(registry: Registry, dedupHorizonMs: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const source of registry.sources) {
    let longest = 0;
    for (const f of registry.features) {
      if (f.source === source.name) longest = Math.max(longest, (f.windowMs ?? 0) + (f.tileMs ?? 0), f.ttlMs);
    }
    out.set(source.topic, longest + dedupHorizonMs);
  }
  return out;
}

export interface ReplayFilterOptions {
  /** Per source topic, from relevanceHorizons. */
  horizons: ReadonlyMap<string, number>;
  /** A producer's clock may run ahead of the event time by at most this (events further ahead were dead-lettered live). */
  maxFutureSkewMs: number;
  /** Exclusive end offset per `topic:partition`; none = replay to the live end. */
  endOffsets?: ReadonlyMap<string, number>;
}

export class ReplayFilter {
  private endOffsets: ReadonlyMap<string, number> | undefined;

  constructor(private readonly o: ReplayFilterOptions) {
    this.endOffsets = o.endOffsets;
  }

  /** Exclusive end offset of a partition while the replay is bounded. */
  end(topic: string, partition: number): number | undefined {
    return this.endOffsets?.get(topicPartition(topic, partition));
  }

  bounded(): boolean {
    return this.endOffsets !== undefined;
  }

  /** A --to replay that hands over continues past its end offsets. */
  unbound(): void {
    this.endOffsets = undefined;
  }

  /** Cheap pre-decode check: false for messages whose Kafka timestamp makes them hopelessly old. */
  keepMessage(topic: string, message: KafkaMessage, nowMs: number): boolean {
    const ts = Number(message.timestamp);
    return !(Number.isFinite(ts) && ts > 0 && ts + this.o.maxFutureSkewMs + this.horizon(topic) <= nowMs);
  }

  keepEvent(topic: string, event: NormalizedEvent, nowMs: number): boolean {
    return event.eventTimeMs + this.horizon(topic) > nowMs;
  }

  /** Unknown topics are never skipped. */
  private horizon(topic: string): number {
    return this.o.horizons.get(topic) ?? Number.POSITIVE_INFINITY;
  }
}
