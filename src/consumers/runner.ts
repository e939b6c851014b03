/**
 * The eachBatch handler: decode and validate a topic-partition batch, group
 * events by entity, hand them to the Materializer, then commit the batch's
 * offsets to Kafka only after the dead letters and Redis writes are durable
 * (the commit is sent in the background: the next fetch does not wait for it).
 * Write-behind: the commit waits for the partition's checkpoint (checkpoints.ts).
 */
import { InvalidEventError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Registry, ResolvedSource } from '../schemas/registry.ts';
import { decodeEvent, type NormalizedEvent } from '../schemas/events.ts';
import { workerMetrics } from '../metrics.ts';
import type { EachBatchPayload } from './kafka-client.ts';
import type { DeadLetter, DeadLetterSink } from './dead-letter.ts';
import type { EntityWork, Materializer } from './materializer.ts';
import type { PartitionLock } from './partition-lock.ts';
import { retryWhileUnavailable } from './backoff.ts';
import { updateLag } from './offsets.ts';
import type { BatchVersions } from './backfill/versions.ts';
import { fastDecoder, type FastDecoder } from './fast-decode.ts';
import type { BatchRecovery } from './recovery.ts';
import type { Checkpoints } from './checkpoints.ts';

export interface RunnerDeps {
  registry: Registry;
  materializer: Materializer;
  deadLetters: DeadLetterSink;
  lock: PartitionLock;
  /** Queues the commit of the offset after `lastOffset` (sent in the background; dropped if `isStale()` by then): GroupMember.commitAfter. */
  commit: (topic: string, partition: number, lastOffset: string, isStale: () => boolean) => void;
  /** Keyspace version per batch: follows the active version through a backfill handover. */
  versions: BatchVersions;
  clock: () => number;
  logger: Logger;
  /** Events with a time further ahead of their record's Kafka timestamp are dead-lettered (EVENT_IN_FUTURE). */
  maxFutureSkewMs: number;
  /** False once shutdown has begun. */
  running: () => boolean;
  /** Redis data-loss detection and recovery (recovery.ts); absent = none. */
  recovery?: BatchRecovery;
  /** Write-behind (checkpoints.ts): offsets commit at the partition's next checkpoint instead of after each batch. */
  checkpoints?: Pick<Checkpoints, 'afterBatch'>;
}

interface Decoded {
  works: EntityWork[];
  dead: DeadLetter[];
}

const fastDecoders = new WeakMap<ResolvedSource, FastDecoder | undefined>();

function decoderOf(source: ResolvedSource): (value: Buffer | null) => NormalizedEvent {
  if (!fastDecoders.has(source)) fastDecoders.set(source, fastDecoder(source));
  const fast = fastDecoders.get(source);
  return fast ? (value) => fast(value) ?? decodeEvent(source, value) : (value) => decodeEvent(source, value);
}

/**
 * Decodes a batch for every source reading its topic (one topic may feed
 * several sources and entity types) and groups the events by entity. A
 * message one source refuses is dead-lettered once, with the first refusal;
 * the sources that accept it still apply it.
 */
export function decodeBatch(payload: Pick<EachBatchPayload, 'batch'>, registry: Registry, nowMs: number, maxFutureSkewMs: number): Decoded {
  const { topic, partition, messages } = payload.batch;
  const sources = registry.sourcesByTopic(topic);
  const dead: DeadLetter[] = [];
  const byEntity = new Map<string, EntityWork>();
  if (sources.length === 0) throw new Error(`no source in the registry reads topic ${topic}`);
  const decoders = sources.map((source) => ({ source, decode: decoderOf(source) }));
  for (const message of messages) {
    // Judged against the record's own timestamp, not the clock: a replay of an old backlog decides the same way.
    const stamp = Number(message.timestamp);
    const arrivalMs = Number.isSafeInteger(stamp) && stamp > 0 ? stamp : nowMs;
    let refused = false;
    for (const { source, decode } of decoders) {
      try {
        const event = decode(message.value);
        event.arrivalMs = arrivalMs;
        if (event.eventTimeMs > arrivalMs + maxFutureSkewMs) {
          throw new InvalidEventError(
            'EVENT_IN_FUTURE',
            `${source.name} event: time ${event.eventTimeMs} is more than ${maxFutureSkewMs} ms ahead of its record timestamp ${arrivalMs}`,
          );
        }
        const key = decoders.length === 1 ? event.entityId : `${source.entity}\u0000${event.entityId}`;
        let work = byEntity.get(key);
        if (!work) {
          work = { ref: { entityType: source.entity, entityId: event.entityId }, partition, topic, events: [] };
          byEntity.set(key, work);
        }
        work.events.push({ event, offset: Number(message.offset), message });
      } catch (err) {
        if (!(err instanceof InvalidEventError)) throw err;
        if (!refused) dead.push({ topic, partition, message, error: err });
        refused = true;
      }
    }
  }
  return { works: [...byEntity.values()], dead };
}

export function createBatchHandler(d: RunnerDeps): (payload: EachBatchPayload) => Promise<void> {
  return async (payload) => {
    const { batch, heartbeat, isRunning, isStale } = payload;
    const last = batch.messages.at(-1);
    if (!last) return;
    await d.lock.run(batch.partition, async () => {
      const keepGoing = () => d.running() && isRunning() && !isStale();
      if (!keepGoing()) return;
      const started = performance.now();
      workerMetrics.eventsConsumed.inc({ topic: batch.topic }, batch.messages.length);
      // Decoded once: each dead letter is sent once however often the write is retried.
      const { works, dead } = decodeBatch(payload, d.registry, d.clock(), d.maxFutureSkewMs);
      const sent = new Set<string>();
      const deadLetterOnce = async (letters: readonly DeadLetter[]) => {
        const fresh = letters.filter((l) => !sent.has(`${l.topic}:${l.partition}:${l.message.offset}`));
        await d.deadLetters.send(fresh);
        for (const l of fresh) sent.add(`${l.topic}:${l.partition}:${l.message.offset}`);
      };
      const outcome = await retryWhileUnavailable(
        async () => {
          const firstOffset = Number(batch.messages[0]!.offset);
          if (d.recovery && !(await d.recovery.beforeBatch(batch.topic, batch.partition, firstOffset, payload))) return false;
          // `now` is taken per attempt: windows are evaluated at the time of the write.
          const nowMs = d.clock();
          const version = await d.versions.forBatch(batch.topic, batch.partition, firstOffset);
          // Durable before the write that moves the fence past them.
          await deadLetterOnce(dead);
          await d.materializer.run(works, nowMs, { deadLetter: deadLetterOnce, progress: heartbeat }, version);
          await d.versions.written(batch.topic, batch.partition, version);
          await d.recovery?.afterWrite(batch.topic, batch.partition, Number(last.offset), works.map((w) => w.ref), version);
          return true;
        },
        { keepGoing, between: heartbeat, logger: d.logger, fatal: 'retry' },
      );
      // A lost partition or shutdown: commit nothing; the next owner redoes the batch behind the fence.
      if (!outcome.done || !outcome.value || isStale()) return;
      payload.resolveOffset(last.offset);
      if (d.checkpoints) await d.checkpoints.afterBatch(batch.topic, batch.partition, last.offset, isStale, batch.messages.length);
      else d.commit(batch.topic, batch.partition, last.offset, isStale);
      updateLag(batch.topic, batch.partition, batch.highWatermark, last.offset);
      workerMetrics.batchDuration.observe(performance.now() - started);
      await heartbeat();
    });
  };
}
