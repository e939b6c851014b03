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
 */
import type { Logger } from '../logger.ts';
import type { WindowEngine } from '../aggregations/engine.ts';
import type { NormalizedEvent } from '../schemas/events.ts';
import type { Registry } from '../schemas/registry.ts';
import type { EntityRef, Keys } from '../stores/keys.ts';
import { classifyRedisError, type RedisClient } from '../stores/redis.ts';
import { NodePipelines, type ReplicaWait } from '../stores/node-pipelines.ts';
import { queueMaterialize, type CallFence, type EntityWrite } from '../stores/materialize-script.ts';
import { queueScript } from '../stores/scripts.ts';
import { timerMember } from '../stores/entity-state.ts';
import { FeaturestreamError, InvalidEventError, isRetriable } from '../errors.ts';
import { workerMetrics } from '../metrics.ts';
import type { KafkaMessage } from './kafka-client.ts';
import type { DeadLetter } from './dead-letter.ts';
import { EntityLayout } from './entity-layout.ts';
import { StateCache, type EngineState } from './state-cache.ts';
import { PartitionEpochs, SOLE_OWNER, type Ownership } from './partition-epoch.ts';
import { quarantine, quarantineError, type Broken, type RebuiltState, type StateSource } from './quarantine.ts';
import { loadStates, type Loaded } from './state-load.ts';
import { planGroup, stateTtlDue, type WrittenEntity } from './vector-writes.ts';

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

interface Plan {
  work: EntityWork;
  state: EngineState;
  /** Applied offsets after this write, for the cache. */
  offsets: Map<string, number>;
  write: EntityWrite;
  /** What the vector hashes hold once the write succeeded, for the cache. */
  written: WrittenEntity;
  next: number | undefined;
  appliedTimes: number[];
  outcomes: Map<string, number>;
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
}

export class Materializer {
  private readonly layout: EntityLayout;
  private readonly cache: StateCache | undefined;
  private readonly epochs: PartitionEpochs;

  constructor(private readonly options: MaterializerOptions) {
    this.layout = new EntityLayout(options.registry);
    this.cache = options.stateCacheSize ? new StateCache(options.stateCacheSize) : undefined;
    this.epochs = new PartitionEpochs(options.redis, options.keys, options.ownership ?? SOLE_OWNER);
  }

  /** Forgets every cached state (after a Redis data loss, see recovery.ts). */
  clearCache(): void {
    this.cache?.clear();
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
    let pending = works;
    // A CAS retry replans the same events; each refused one is dead-lettered once.
    const sent = new Set<string>();
    const deadLetterOnce = async (letters: readonly DeadLetter[]) => {
      const unsent = letters.filter((d) => !sent.has(`${d.topic}:${d.partition}:${d.message.offset}`));
      await hooks.deadLetter(unsent);
      for (const d of unsent) sent.add(`${d.topic}:${d.partition}:${d.message.offset}`);
    };
    // Quarantined entities left as they were: never handed to the sync (it would copy the broken state).
    const abandoned = new Set<EntityWork['ref']>();
    // Masters whose pipelines ended with WAIT in this run; the others get a bare WAIT at the end.
    const waited = new Set<string>();
    // Entities whose script call failed along with others: written alone next round to find the culprit.
    const alone = new Set<string>();
    // Quarantined entities rebuilt from their DynamoDB copy: planned from it instead of Redis next round.
    const rebuilt = new Map<string, RebuiltState>();
    for (let round = 0; pending.length > 0; round++) {
      if (round >= MAX_ROUNDS) {
        throw new FeaturestreamError('FENCED', `${pending.length} entities kept losing the version race`, true);
      }
      const stored = await loadStates(this.options, this.cache, pending, version, rebuilt);
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
              const plan = this.plan(work, loaded, nowMs, dead, version);
              if (plan === 'reload') reload.push(work);
              else if (plan) plans.push(plan);
            } catch (err) {
              if (isRetriable(err)) throw err;
              broken.push({ work, error: quarantineError(err, loaded.key) });
            }
          }
          // Durable before the write that moves their fence past them.
          await deadLetterOnce(dead);
          const written = this.write(plans, nowMs, version, fences, alone, waited);
          // Awaited below (or settled on an error): not an unhandled rejection while later chunks are planned.
          written.catch(() => undefined);
          writes.push(written);
          await hooks.progress?.();
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
      const again = await quarantine(this.options, broken, version, rebuilt, deadLetterOnce);
      for (const { work } of broken) if (!again.includes(work)) abandoned.add(work.ref);
      pending.push(...again);
    }
    await this.waitForUnwritten(works, version, waited);
    // Every entity of the run, written now or by an earlier attempt that failed before this
    // point: the sync reads current Redis data, so an extra ref costs one skipped conditional put.
    await this.options.sync?.enqueue(version, works.filter((w) => !abandoned.has(w.ref)).map((w) => w.ref));
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

  /** undefined = nothing to write; 'reload' = the cached state fenced events: replanned from Redis next round. */
  private plan(work: EntityWork, loaded: Loaded, nowMs: number, dead: DeadLetter[], version: number): Plan | 'reload' | undefined {
    const { engine } = this.options;
    const { stored } = loaded;
    const fenceField = work.topic === undefined ? undefined : this.layout.offsetField(work.topic, work.partition);
    const fence = fenceField === undefined ? -1 : (stored.offsets.get(fenceField) ?? -1);
    const fresh = work.events.filter((e) => e.offset > fence);
    // Only Redis may fence events: a cached state can be newer than Redis after a data loss (a batch
    // retried across a restart from a cut-back AOF), and skipping events on its word writes nothing,
    // so no version CAS would ever refuse it. The entry is already taken out; next round loads Redis.
    if (loaded.state && fresh.length < work.events.length) return 'reload';
    if (work.topic !== undefined && fresh.length < work.events.length) {
      workerMetrics.eventsApplied.inc({ topic: work.topic, outcome: 'fenced' }, work.events.length - fresh.length);
    }
    if (fresh.length === 0 && !work.rematerialize) {
      if (loaded.state) this.cache?.put(loaded.key, { partition: work.partition, version: stored.version, offsets: stored.offsets, state: loaded.state, written: loaded.written });
      return undefined;
    }

    const state: EngineState = loaded.state ?? (stored.bytes ? engine.deserialize(stored.bytes) : engine.newState(work.ref.entityType));
    const appliedTimes: number[] = [];
    const outcomes = new Map<string, number>();
    const refused = dead.length;
    const results = engine.applyMany(
      state,
      fresh.map((e) => e.event),
      nowMs,
    );
    results.forEach((result, i) => {
      const e = fresh[i]!;
      if (result instanceof InvalidEventError) {
        dead.push({ topic: work.topic!, partition: work.partition, message: e.message, error: result });
        return;
      }
      outcomes.set(result, (outcomes.get(result) ?? 0) + 1);
      if (result === 'applied') appliedTimes.push(e.event.eventTimeMs);
    });
    // An entity without state whose events all expired (or were duplicates) would get empty
    // hashes with long TTLs: nothing is written, and a replay finds the same events expired.
    if (stored.version === 0 && !loaded.state && !loaded.replace && !work.rematerialize && appliedTimes.length === 0 && dead.length === refused) {
      if (work.topic !== undefined) for (const [outcome, n] of outcomes) workerMetrics.eventsApplied.inc({ topic: work.topic, outcome }, n);
      return undefined;
    }
    engine.evict(state, nowMs);
    const evaluation = engine.evaluate(state, nowMs);
    const entity = this.layout.entity(work.ref.entityType);

    const last = fresh.at(-1);
    const moved: Array<[string, number]> = fenceField !== undefined && last !== undefined ? [[fenceField, last.offset]] : [];
    const applied = new Map(stored.offsets);
    for (const [field, offset] of moved) applied.set(field, offset);
    const packed = this.options.registry.layout === 'packed';
    const groups = entity.groups.map((group, g) => {
      const values = evaluation.groups[group.name] ?? {};
      const key = this.options.keys.vector(work.ref, group.name, version);
      const value = packed ? { kind: 'packed' as const, packed: group.codec.packed(values) } : { kind: 'fields' as const, ...group.codec.fields(values) };
      return planGroup(key, group.keyTtlMs, value, loaded.written?.groups[g], nowMs);
    });
    const refreshStateTtl = stateTtlDue(loaded.written, entity.stateTtlMs, nowMs);
    const write: EntityWrite = {
      stateKey: loaded.key,
      knownVersion: stored.version,
      compare: this.options.coPartitioned !== true,
      ...(loaded.replace ? { replaceCorrupt: true } : {}),
      stateTtlMs: entity.stateTtlMs,
      refreshStateTtl,
      state: engine.serialize(state),
      offsets: moved,
      vectors: groups.map((p) => p.write),
    };
    const written: WrittenEntity = { stateTtlAtMs: refreshStateTtl ? nowMs : loaded.written!.stateTtlAtMs, groups: groups.map((p) => p.written) };
    return { work, state, offsets: applied, write, written, next: engine.nextChangeAt(state, nowMs), appliedTimes, outcomes };
  }

  /** Work to reload and reapply (lost CAS, or a call that failed along with others), and entities whose own write was refused. */
  private async write(plans: Plan[], nowMs: number, version: number, fences: Map<number, CallFence>, alone: Set<string>, waited: Set<string>): Promise<WriteResult> {
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
    const replies = await pipelines.exec(this.options.replicaWait);
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
      for (const v of plan.write.vectors) ttl[v.refreshTtl ? 'set' : 'kept'] += 1;
      this.cache?.put(plan.write.stateKey, { partition: plan.work.partition, version: outcome.version, offsets: plan.offsets, state: plan.state, written: plan.written });
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
