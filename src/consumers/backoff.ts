/**
 * Retrying a Redis-dependent step through an outage: exponential backoff with
 * jitter, capped low so work resumes within about a second of Redis returning.
 * The caller's `keepGoing` stops the loop on shutdown or a lost partition.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { FeaturestreamError, isRetriable } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { workerMetrics } from '../metrics.ts';
import { isKafkaClientError } from './kafka-client.ts';

export interface RetryOptions {
  /** Called between attempts (kafkajs heartbeat); may throw to abort (rebalance). */
  between?: () => Promise<void>;
  /** False stops retrying: the step is abandoned and the result is undefined. */
  keepGoing: () => boolean;
  logger: Logger;
  initialMs?: number;
  maxMs?: number;
  /**
   * 'retry': a non-retriable error is logged and retried after a longer backoff instead of
   * thrown, so a batch handler never crashes the consumer into a rejoin loop; kafkajs' own
   * errors (a rebalance learned by a heartbeat) still go to kafkajs. Default 'throw'.
   */
  fatal?: 'throw' | 'retry';
}

/** Backoff cap after a non-retriable failure: slow enough not to spin, quick enough to notice a fix. */
const FATAL_MAX_MS = 30_000;

export type Outcome<T> = { done: true; value: T } | { done: false };

export async function retryWhileUnavailable<T>(step: () => Promise<T>, o: RetryOptions): Promise<Outcome<T>> {
  let delay = o.initialMs ?? 100;
  const maxMs = o.maxMs ?? 1_000;
  let failures = 0;
  let fatalFailures = 0;
  for (;;) {
    if (!o.keepGoing()) return { done: false };
    try {
      const value = await step();
      if (failures > 0) o.logger.info({ failures }, 'redis reachable again; resuming');
      return { done: true, value };
    } catch (err) {
      if (!isRetriable(err)) {
        if (o.fatal !== 'retry' || isKafkaClientError(err)) throw err;
        fatalFailures += 1;
        workerMetrics.batchFailures.inc();
        if (fatalFailures === 1 || fatalFailures % 10 === 0) o.logger.error({ err, failures: fatalFailures }, 'batch failed (not retriable); retrying after a backoff');
        await o.between?.();
        await sleep(Math.min(FATAL_MAX_MS, (o.initialMs ?? 100) * 2 ** Math.min(fatalFailures, 20)) * (0.5 + Math.random() / 2));
        continue;
      }
      failures += 1;
      workerMetrics.redisUnavailable.inc();
      // One line at the first failure and then every ~10th: an outage must not flood the logs. Waiting
      // for a keyspace version (a rolling restart through a backfill) is expected: info, not warn.
      if (failures === 1 || failures % 10 === 0) {
        const expected = err instanceof FeaturestreamError && err.code === 'FENCED';
        o.logger[expected ? 'info' : 'warn']({ err, failures }, 'retriable failure (redis outage or version race); pausing this partition and retrying');
      }
    }
    await o.between?.();
    await sleep(delay * (0.5 + Math.random() / 2));
    delay = Math.min(maxMs, delay * 2);
  }
}
