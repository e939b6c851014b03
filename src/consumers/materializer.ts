/**
 * The sink: loads the state of every entity a batch touches in one pipelined
 * round trip (minus those in the in-memory state cache), applies the events
 * past each entity's offset fence, and writes state + vectors with Lua calls
 * (up to ENTITIES_PER_CALL entities per call), pipelined in chunks of
 * WRITE_CHUNK entities.
 *
 * Writes are fenced per partition, not per entity: each call carries this
 * worker's epoch of the batch's partition (partition-epoch.ts) and is refused
 * once a newer owner took one, so the worker knows its entities' versions and
 * applied offsets without reading them before each write. The offset fence is
 * the highest applied offset per topic-partition, kept in the state hash; it is
 * exact because every writer applies a contiguous run of a partition starting
 * at or before the group's committed offset (commits follow durable writes), so
 * redelivery, replays and a new owner's first batches never double-count.
 *
 * Planning one entity is entity-plan.ts. Write-behind (`writeBehind`,
 * checkpoints.ts): the calls carry vectors only, states stay dirty in memory
 * (state-cache.ts) until `checkpoint` writes them (checkpoint-write.ts); the
 * offset fence then lives in memory between checkpoints, and commits follow
 * checkpoints, so a replay still starts at or before every state's fence.
 */
import type { Logger } from '../logger.ts';
import type { WindowEngine } from '../aggregations/engine.ts';
import type { NormalizedEvent } from '../schemas/events.ts';
import type { Registry } from '../schemas/registry.ts';
import type { EntityRef, Keys } from '../stores/keys.ts';
import { classifyRedisError, type RedisClient } from '../stores/redis.ts';
import { NodePipelines, type ReplicaWait } from '../stores/node-pipelines.ts';
import { queueMaterialize, type CallFence } from '../stores/materialize-script.ts';
import { queueScript } from '../stores/scripts.ts';
import { timerMember } from '../stores/entity-state.ts';
import { FeaturestreamError, isRetriable } from '../errors.ts';
import { workerMetrics } from '../metrics.ts';
import type { KafkaMessage } from './kafka-client.ts';
import type { DeadLetter } from './dead-letter.ts';
import { EntityLayout } from './entity-layout.ts';
import { StateCache, type CachedState } from './state-cache.ts';
import { planEntity, type Plan, type PlanDeps } from './entity-plan.ts';
import { writeCheckpoint } from './checkpoint-write.ts';
import { PartitionEpochs, SOLE_OWNER, type Ownership } from './partition-epoch.ts';
import { quarantine, quarantineError, type Broken, type RebuiltState, type StateSource } from './quarantine.ts';
import { loadStates } from './state-load.ts';

export interface PendingEvent {
  event: NormalizedEvent;
  offset: number;
  message: KafkaMessage;
}

/** All of one entity's work in one batch: new events from one topic-partition, or a due timer. */
export interface EntityWork {
  ref: EntityRef;
  /** Kafka partition number: selects the timer index. */
  partition: number;
  /** Source topic of the events; undefined for timer work. */
  topic?: string;
  events: PendingEvent[];
  /** Write even without new events: the windows moved (timer work). */
  rematerialize?: boolean;
  /** Timer work: the due time read from the timer index, moved to the next one on success. */
  timerDue?: number;
}

export interface MaterializeHooks {
  /** Called before each write round with events the engine refused (EVENT_IN_FUTURE); must be durable when it resolves. */
  deadLetter(letters: DeadLetter[]): Promise<void>;
  /** Called between write chunks (kafkajs heartbeat): keeps a long batch in the group; may throw on rebalance. */
  progress?: () => Promise<void>;
}

/** One run's bookkeeping, shared by its rounds. */
interface Run {
  nowMs: number;
  version: number;
  shared: boolean;
  /** Write-behind for this run: not on a shared version, whose other writer reads the states from Redis. */
  behind: boolean;
  fences: Map<number, CallFence>;
  hooks: MaterializeHooks;
  deadLetterOnce: (letters: readonly DeadLetter[]) => Promise<void>;
  /** Quarantined entities left as they were: never handed to the sync (it would copy the broken state). */
  abandoned: Set<EntityRef>;
  /** Masters whose pipelines ended with WAIT in this run; the others get a bare WAIT at the end. */
  waited: Set<string>;
  /** Entities whose script call failed along with others: written alone next round to find the culprit. */
  alone: Set<string>;
  /** Quarantined entities rebuilt from their DynamoDB copy: planned from it instead of Redis next round. */
  rebuilt: Map<string, RebuiltState>;
  /** Write-behind: the states taken from memory or changed, put back when the run ends, written or not. */
  held: Map<string, CachedState> | undefined;
}

interface WriteResult {
  retry: EntityWork[];
  broken: Broken[];
}

/** A CAS round that keeps failing means another writer is hammering the same entity; the batch is retried later. */
const MAX_ROUNDS = 8;
/** Entities per write pipeline: big enough to amortize a round trip, small enough to overlap with planning. */
const WRITE_CHUNK = 1_000;

export interface MaterializerOptions {
  redis: RedisClient;
  keys: Keys;
  registry: Registry;
  engine: WindowEngine;
  keyspaceVersion: number;
  logger: Logger;
  /** Entity states kept in memory between batches; 0 or unset disables the cache. */
  stateCacheSize?: number;
  /** DynamoDB dual-write: told about every entity of a run once its Redis writes are durable. */
  sync?: { enqueue(keyspaceVersion: number, refs: readonly EntityRef[]): Promise<void> };
  /** Last good states of quarantined entities (the DynamoDB copy); without it their events are dead-lettered. */
  stateSource?: StateSource;
  /** Writes count as durable only once this many replicas of their master acknowledged them (WAIT); unset: no WAIT. */
  replicaWait?: ReplicaWait;
  /** When a partition epoch may be taken (the consumer group's view); default: always, one per partition. */
  ownership?: Ownership;
  /**
   * Sources are co-partitioned (every entity's events come from one partition number, README): the
   * partition epoch alone fences writes. Otherwise (default) each write also compares the entity's
   * `_version` (one read per entity), which keeps entities fed by several partitions exact.
   */
  coPartitioned?: boolean;
  /**
   * Write-behind (checkpoints.ts): a run writes vectors only; states stay dirty in memory, authoritative
   * for the partitions this worker holds the epoch of, until `checkpoint` writes them. The run neither
   * waits for replicas nor hands entities to the sync: the checkpoint does. Needs co-partitioned sources
   * (the epoch alone fences: one writer per entity).
   */
  writeBehind?: boolean;
  /**
   * Whether another writer may write this version's entities too (a backfill handing it over writes
   * the topics a live worker has not switched yet): its writes then compare `_version` even with
   * co-partitioned sources, so neither overwrites the other from a stale cached state. Write-behind
   * is off for such a version (states written through, as without it): the other writer's CAS and
   * loads see only Redis, so a state kept in memory would let it overwrite this worker's events
   * unseen, and a lost CAS must reload from Redis instead of retrying the state held in memory.
   * A version is shared before any write-behind write to it (a backfill only builds a version not yet
   * active), so no dirty state of it is ever written through.
   */
  sharedVersion?: (version: number) => boolean;
}

export class Materializer {
  private readonly layout: EntityLayout;
  private readonly cache: StateCache | undefined;
  private readonly epochs: PartitionEpochs;
  private readonly planDeps: PlanDeps;

  constructor(private readonly options: MaterializerOptions) {
    this.layout = new EntityLayout(options.registry);
    if (options.writeBehind && options.coPartitioned !== true) throw new Error('write-behind needs co-partitioned sources (coPartitioned: true)');
    this.cache = options.stateCacheSize || options.writeBehind ? new StateCache(options.stateCacheSize || 1) : undefined;
    this.epochs = new PartitionEpochs(options.redis, options.keys, options.ownership ?? SOLE_OWNER);
    this.planDeps = { options, layout: this.layout, cache: this.cache };
  }

  /** Forgets every cached state, dirty ones included (after a Redis data loss, see recovery.ts). */
  clearCache(): void {
    this.cache?.clear();
  }

  /** Write-behind: entity states in memory newer than Redis. */
  dirtyCount(): number {
    return this.cache?.dirtyCount() ?? 0;
  }

  /**
   * Write-behind: writes the partition's dirty states (checkpoint-write.ts); resolves once they are
   * durable (replicas included), with the written entities per keyspace version. FENCED when a newer
   * owner took the partition (its dirty states are then dropped).
   */
  checkpoint(partition: number, nowMs: number): Promise<Map<number, EntityRef[]>> {
    const { redis, engine, replicaWait } = this.options;
    return writeCheckpoint({ redis, engine, layout: this.layout, cache: this.cache!, replicaWait, fence: (v, p) => this.fence(v, p) }, partition, nowMs);
  }

  /** Forgets the partition's states, dirty ones included (it went to another owner). */
  dropPartition(partition: number): void {
    this.cache?.dropPartition(partition);
  }

  /** Partitions holding dirty states. */
  dirtyPartitions(): number[] {
    return this.cache?.dirtyPartitions() ?? [];
  }

  /**
   * Applies and writes every work item; resolves once all writes are durable in
   * Redis (acknowledged by replicas when configured) and handed to the DynamoDB
   * sync. One load round trip per round; the writes go out in chunks, each sent
   * while the next chunk is planned, so Redis and the engine work at the same
   * time instead of taking turns. On a Cluster every round trip is one pipeline
   * per master, in parallel. A newer epoch of a partition of the work is a retriable FENCED error.
   */
  async run(works: EntityWork[], nowMs: number, hooks: MaterializeHooks, version = this.options.keyspaceVersion): Promise<void> {
    const fences = new Map<number, CallFence>();
    for (const p of new Set(works.map((w) => w.partition))) fences.set(p, await this.fence(version, p));
    // A CAS retry replans the same events; each refused one is dead-lettered once.
    const sent = new Set<string>();
    const shared = this.options.sharedVersion?.(version) === true;
    const behind = this.options.writeBehind === true && !shared;
    const run: Run = {
      nowMs,
      version,
      shared,
      behind,
      fences,
      hooks,
      deadLetterOnce: async (letters) => {
        const unsent = letters.filter((d) => !sent.has(`${d.topic}:${d.partition}:${d.message.offset}`));
        await hooks.deadLetter(unsent);
        for (const d of unsent) sent.add(`${d.topic}:${d.partition}:${d.message.offset}`);
      },
      abandoned: new Set(),
      waited: new Set(),
      alone: new Set(),
      rebuilt: new Map(),
      held: behind ? new Map() : undefined,
    };
    try {
      await this.rounds(works, run);
    } finally {
      if (run.held) for (const [key, entry] of run.held) this.cache!.put(key, entry);
    }
    if (behind) return;
    await this.waitForUnwritten(works, version, run.waited);
    // Every entity of the run, written now or by an earlier attempt that failed before this
    // point: the sync reads current Redis data, so an extra ref costs one skipped conditional put.
    await this.options.sync?.enqueue(version, works.filter((w) => !run.abandoned.has(w.ref)).map((w) => w.ref));
  }

  /** Load, plan and write rounds until every work item is written, quarantined or abandoned. */
  private async rounds(works: EntityWork[], run: Run): Promise<void> {
    const { version, rebuilt, held } = run;
    let pending = works;
    for (let round = 0; pending.length > 0; round++) {
      if (round >= MAX_ROUNDS) {
        throw new FeaturestreamError('FENCED', `${pending.length} entities kept losing the version race`, true);
      }
      // Write-behind: states held from the last round (unwritten) are loaded from memory again.
      if (held) for (const [key, entry] of held) this.cache!.put(key, entry);
      held?.clear();
      const stored = await loadStates(this.options, this.cache, pending, version, rebuilt);
      if (held) for (const loaded of stored) if (loaded.entry) held.set(loaded.key, loaded.entry);
      const writes: Array<Promise<WriteResult>> = [];
      const reload: EntityWork[] = [];
      const broken: Broken[] = [];
      try {
        for (let from = 0; from < pending.length; from += WRITE_CHUNK) {
          const dead: DeadLetter[] = [];
          const plans: Plan[] = [];
          for (let i = from; i < Math.min(from + WRITE_CHUNK, pending.length); i++) {
            const work = pending[i]!;
            const loaded = stored[i]!;
            try {
              if (loaded.error) throw loaded.error;
              const plan = planEntity(this.planDeps, work, loaded, { nowMs: run.nowMs, version: run.version, shared: run.shared, behind: run.behind }, dead);
              if (plan === 'reload') reload.push(work);
              else if (plan) {
                plans.push(plan);
                held?.set(loaded.key, { ...plan.entry, written: undefined, unwritten: true });
              } else held?.delete(loaded.key);
            } catch (err) {
              if (isRetriable(err)) throw err;
              held?.delete(loaded.key);
              broken.push({ work, error: quarantineError(err, loaded.key) });
            }
          }
          // Durable before the write that moves their fence past them.
          await run.deadLetterOnce(dead);
          const written = this.write(plans, run);
          // Awaited below (or settled on an error): not an unhandled rejection while later chunks are planned.
          written.catch(() => undefined);
          writes.push(written);
          await run.hooks.progress?.();
        }
      } catch (err) {
        await Promise.allSettled(writes);
        throw err;
      }
      const results = await Promise.all(writes);
      pending = results.flatMap((r) => r.retry);
      if (pending.length > 0) workerMetrics.casConflicts.inc(pending.length);
      pending.push(...reload);
      broken.push(...results.flatMap((r) => r.broken));
      const again = await quarantine(this.options, broken, version, rebuilt, run.deadLetterOnce);
      for (const { work } of broken) if (!again.includes(work)) run.abandoned.add(work.ref);
      pending.push(...again);
    }
  }

  /** This worker's epoch of the partition, with its fence keys; the partition's cached states go when another writer took one. */
  private async fence(version: number, partition: number): Promise<CallFence> {
    const epoch = await this.epochs.hold(version, partition, () => this.cache?.dropPartition(partition));
    return { epoch, ttlMs: this.epochs.ttlMs, keyFor: (key) => this.epochs.fenceKey(version, partition, key) };
  }

  /**
   * Entities that needed no write this run (all their events fenced) may have been written by an
   * earlier attempt whose WAIT fell short: their masters are asked again before anything commits.
   */
  private async waitForUnwritten(works: EntityWork[], version: number, waited: Set<string>): Promise<void> {
    if (!this.options.replicaWait) return;
    const pipelines = new NodePipelines(this.options.redis);
    let missing = false;
    for (const w of works) {
      const key = this.options.keys.state(w.ref, version);
      if (waited.has(pipelines.ownerOf(key))) continue;
      pipelines.touch(key);
      missing = true;
    }
    if (missing) await pipelines.exec(this.options.replicaWait);
  }

  /** Work to reload and reapply (lost CAS, or a call that failed along with others), and entities whose own write was refused. */
  private async write(plans: Plan[], run: Run): Promise<WriteResult> {
    const { nowMs, version, fences, alone, waited, behind } = run;
    const broken: Broken[] = [];
    if (plans.length === 0) return { retry: [], broken };
    const pipelines = new NodePipelines(this.options.redis);
    const outcomesOf = queueMaterialize(
      pipelines,
      (i) => fences.get(plans[i]!.work.partition)!,
      nowMs,
      plans.map((plan) => plan.write),
      (i) => alone.has(plans[i]!.write.stateKey),
    );
    // Event writes only pull timers earlier (ZADD LT), one command per timer index;
    // a spurious early timer costs one re-evaluation.
    const pull = new Map<string, Array<string | number>>();
    for (const plan of plans) {
      const { ref, partition, timerDue } = plan.work;
      const timers = this.options.keys.timers(partition, version);
      const member = timerMember(ref.entityType, ref.entityId);
      if (timerDue !== undefined) {
        pipelines.queue(timers, (p) => queueScript(p, 'timerReschedule', [timers], [member, timerDue, plan.next ?? '']));
      } else if (plan.next !== undefined) {
        const pairs = pull.get(timers) ?? [];
        pairs.push(plan.next, member);
        pull.set(timers, pairs);
      }
    }
    const timerWritesAt: number[] = [];
    for (const [timers, pairs] of pull) timerWritesAt.push(pipelines.queue(timers, (p) => p.zadd(timers, 'LT', ...pairs)));
    const started = performance.now();
    // Write-behind: the checkpoint waits for replicas before anything commits.
    const replies = await pipelines.exec(behind ? undefined : this.options.replicaWait);
    for (const plan of plans) waited.add(pipelines.ownerOf(plan.write.stateKey));
    const doneMs = Date.now();
    workerMetrics.redisWriteDuration.observe(performance.now() - started);
    for (const [err] of timerWritesAt.map((at) => replies[at]!)) if (err) throw classifyRedisError(err);

    const retry: EntityWork[] = [];
    // Counted per write, not per entity: labelled prom-client updates cost more than the rest of the bookkeeping.
    const applied = new Map<string, Map<string, number>>();
    let timerWrites = 0;
    let written = 0;
    const ttl = { set: 0, kept: 0 };
    const outcomes = outcomesOf(replies);
    const fenced = outcomes.find((o) => o.status === 'fenced');
    if (fenced) {
      // A newer owner took the partition; what this run wrote in other calls is its to overwrite or keep.
      throw new FeaturestreamError('FENCED', `a newer writer took the partition (epoch ${fenced.stored})`, true, { details: { stored: fenced.stored } });
    }
    outcomes.forEach((outcome, i) => {
      const plan = plans[i]!;
      if (outcome.status === 'failed') {
        const error = classifyRedisError(outcome.error);
        if (error.retriable) throw error;
        if (outcome.alone) {
          broken.push({ work: plan.work, error });
          return;
        }
        alone.add(plan.write.stateKey);
        retry.push({ ...plan.work, timerDue: undefined });
        return;
      }
      if (outcome.status !== 'written') {
        // The timer script may have run although the state write lost; the retry then
        // schedules with ZADD LT, which is right whatever the script did.
        retry.push({ ...plan.work, timerDue: undefined });
        return;
      }
      written += 1;
      for (const v of plan.write.vectors) ttl[v.kind === 'packed' || v.refreshTtl ? 'set' : 'kept'] += 1;
      this.cache?.put(plan.write.stateKey, { ...plan.entry, version: outcome.version });
      run.held?.delete(plan.write.stateKey);
      for (const t of plan.appliedTimes) workerMetrics.freshness.observe(Math.max(0, doneMs - t));
      if (plan.work.rematerialize) timerWrites += 1;
      if (plan.work.topic === undefined) return;
      const byOutcome = applied.get(plan.work.topic) ?? new Map<string, number>();
      for (const [name, n] of plan.outcomes) byOutcome.set(name, (byOutcome.get(name) ?? 0) + n);
      applied.set(plan.work.topic, byOutcome);
    });
    for (const [topic, byOutcome] of applied) for (const [outcome, n] of byOutcome) workerMetrics.eventsApplied.inc({ topic, outcome }, n);
    if (timerWrites > 0) workerMetrics.timerWrites.inc(timerWrites);
    if (written > 0) workerMetrics.entityWrites.inc(written);
    for (const [what, n] of Object.entries(ttl)) if (n > 0) workerMetrics.vectorWrites.inc({ ttl: what }, n);
    return { retry, broken };
  }
}
