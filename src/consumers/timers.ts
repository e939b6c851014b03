/**
 * Bounded staleness without events: every tick, entities whose timer is due in
 * a partition this worker owns are re-materialized at the current time, so
 * windowed values decay and lapsed features are removed within one tile plus
 * one tick. Timers are in Redis, so they survive restarts and move with the
 * partition to its next owner.
 */
import type { Logger } from '../logger.ts';
import type { Keys } from '../stores/keys.ts';
import { classifyRedisError, type RedisClient } from '../stores/redis.ts';
import { NodePipelines } from '../stores/node-pipelines.ts';
import { parseTimerMember } from '../stores/entity-state.ts';
import type { EntityWork, Materializer } from './materializer.ts';
import type { PartitionLock } from './partition-lock.ts';
import type { BatchVersions } from './backfill/versions.ts';
import { IntervalTask } from './interval-task.ts';

export interface TimerLoopOptions {
  redis: RedisClient;
  keys: Keys;
  /** The timer index follows the version this worker writes (see backfill/versions.ts). */
  versions: Pick<BatchVersions, 'forTimers'>;
  materializer: Materializer;
  lock: PartitionLock;
  owned: () => Set<number>;
  clock: () => number;
  logger: Logger;
  intervalMs: number;
  /** Entities per partition per tick: bounds one pipeline; the rest wait a tick. */
  maxPerTick?: number;
}

export class TimerLoop {
  private readonly loop: IntervalTask;
  private failures = 0;

  constructor(private readonly o: TimerLoopOptions) {
    this.loop = new IntervalTask(() => this.tick(), o.intervalMs);
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One pass over the owned partitions; exported for tests that drive time themselves. */
  async tick(): Promise<void> {
    const partitions = [...this.o.owned()];
    if (partitions.length === 0) return;
    try {
      const version = await this.o.versions.forTimers();
      if (version === undefined) return;
      const nowMs = this.o.clock();
      // One index per partition, each on the master owning its key.
      const pipelines = new NodePipelines(this.o.redis);
      const at = partitions.map((p) => {
        const key = this.o.keys.timers(p, version);
        return pipelines.queue(key, (pipeline) => pipeline.zrangebyscore(key, '-inf', nowMs, 'WITHSCORES', 'LIMIT', 0, this.o.maxPerTick ?? 2_000));
      });
      const replies = await pipelines.exec();
      for (const [i, p] of partitions.entries()) {
        const [err, flat] = replies[at[i]!]!;
        if (err) throw classifyRedisError(err);
        const works = toWorks(flat as string[], p);
        if (works.length === 0) continue;
        await this.o.lock.run(p, () => this.o.materializer.run(works, this.o.clock(), { deadLetter: async () => undefined }, version));
      }
      this.failures = 0;
    } catch (err) {
      this.failures += 1;
      if (this.failures === 1 || this.failures % 30 === 0) this.o.logger.warn({ err, failures: this.failures }, 'timer pass failed; retrying next tick');
    }
  }
}

function toWorks(flat: string[], partition: number): EntityWork[] {
  const works: EntityWork[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const ref = parseTimerMember(flat[i]!);
    if (ref) works.push({ ref, partition, events: [], rematerialize: true, timerDue: Number(flat[i + 1]) });
  }
  return works;
}
