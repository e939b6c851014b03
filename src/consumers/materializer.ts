/**
 * The sink: loads the state of every entity a batch touches in one pipelined
 * round trip (minus those in the in-memory state cache), applies the events
 * past each entity's offset fence, and writes state + vectors with fenced Lua
 * calls (compare-and-set on `_version` per entity, up to ENTITIES_PER_CALL
 * entities per call), pipelined in chunks of WRITE_CHUNK entities. Entities
 * whose CAS fails are reloaded and reapplied; events a newer writer already
 * applied are then skipped by the fence, so redelivery, replays and zombie
 * workers never double-count.
 *
 * The fence is the highest applied offset per topic-partition, which is exact
 * because every writer applies a contiguous run of a partition starting at or
 * before the group's committed offset (commits follow durable writes), so no
 * writer can leave a gap below an offset another writer has applied.
 */
import type { ChainableCommander } from 'ioredis';
import type { Logger } from '../logger.ts';
import type { WindowEngine } from '../aggregations/engine.ts';
import type { NormalizedEvent } from '../schemas/events.ts';
import type { Registry } from '../schemas/registry.ts';
import { encodeFeatureValue } from '../stores/codec.ts';
import type { EntityRef, Keys } from '../stores/keys.ts';
import { execPipeline, isCluster, type RedisClient } from '../stores/redis.ts';
import { keySlot } from '../serving/slot.ts';
import { queueScript } from '../stores/scripts.ts';
import { pack, type Packable } from '../stores/msgpack.ts';
import { EMPTY_STATE, parseStoredState, timerMember, type StoredState } from '../stores/entity-state.ts';
import { FeaturestreamError, InvalidEventError, ServiceUnavailableError } from '../errors.ts';
import { workerMetrics } from '../metrics.ts';
import type { KafkaMessage } from './kafka-client.ts';
import type { DeadLetter } from './dead-letter.ts';
import { EntityLayout } from './entity-layout.ts';
import { StateCache, type EngineState } from './state-cache.ts';

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

interface Loaded {
  key: string;
  stored: StoredState;
  /** Set when the state came from the cache (already deserialized). */
  state: EngineState | undefined;
}

interface Plan {
  work: EntityWork;
  state: EngineState;
  /** Applied offsets after this write, for the cache. */
  offsets: Map<string, number>;
  keys: string[];
  /** The entity's block of the materialize script's argument. */
  block: Packable;
  next: number | undefined;
  appliedTimes: number[];
  outcomes: Map<string, number>;
}

/** A CAS round that keeps failing means another writer is hammering the same entity; the batch is retried later. */
const MAX_ROUNDS = 8;
/** Entities per write pipeline: big enough to amortize a round trip, small enough to overlap with planning. */
const WRITE_CHUNK = 1_000;
/** Entities per script call: amortizes the per-command cost while keeping each call short for readers. */
const ENTITIES_PER_CALL = 100;

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
}

export class Materializer {
  private readonly layout: EntityLayout;
  private readonly cache: StateCache | undefined;
  private readonly cluster: boolean;

  constructor(private readonly o: MaterializerOptions) {
    this.layout = new EntityLayout(o.registry);
    this.cache = o.stateCacheSize ? new StateCache(o.stateCacheSize) : undefined;
    this.cluster = isCluster(o.redis);
  }

  /** Forgets every cached state (after a Redis data loss, see recovery.ts). */
  clearCache(): void {
    this.cache?.clear();
  }

  /**
   * Applies and writes every work item; resolves once all writes are durable in
   * Redis and handed to the DynamoDB sync. One load round trip per round; the writes go out in chunks, each
   * pipeline sent while the next chunk is planned, so Redis and the engine work
   * at the same time instead of taking turns.
   */
  async run(works: EntityWork[], nowMs: number, hooks: MaterializeHooks, version = this.o.keyspaceVersion): Promise<void> {
    let pending = works;
    // A CAS retry replans the same events; each refused one is dead-lettered once.
    const sent = new Set<string>();
    for (let round = 0; pending.length > 0; round++) {
      if (round >= MAX_ROUNDS) {
        throw new FeaturestreamError('FENCED', `${pending.length} entities kept losing the version race`, true);
      }
      const stored = await this.load(pending, version);
      const writes: Array<Promise<EntityWork[]>> = [];
      try {
        for (let from = 0; from < pending.length; from += WRITE_CHUNK) {
          const dead: DeadLetter[] = [];
          const plans: Plan[] = [];
          for (let i = from; i < Math.min(from + WRITE_CHUNK, pending.length); i++) {
            const plan = this.plan(pending[i]!, stored[i]!, nowMs, dead, version);
            if (plan) plans.push(plan);
          }
          const unsent = dead.filter((d) => !sent.has(`${d.topic}:${d.partition}:${d.message.offset}`));
          // Durable before the write that moves their fence past them.
          await hooks.deadLetter(unsent);
          for (const d of unsent) sent.add(`${d.topic}:${d.partition}:${d.message.offset}`);
          writes.push(this.write(plans, nowMs, version));
          await hooks.progress?.();
        }
      } catch (err) {
        await Promise.allSettled(writes);
        throw err;
      }
      pending = (await Promise.all(writes)).flat();
      if (pending.length > 0) workerMetrics.casConflicts.inc(pending.length);
    }
    // Every entity of the run, written now or by an earlier attempt that failed before this
    // point: the sync reads current Redis data, so an extra ref costs one skipped conditional put.
    await this.o.sync?.enqueue(version, works.map((w) => w.ref));
  }

  /** Cached states first; the misses in one pipelined round trip. */
  private async load(works: EntityWork[], version: number): Promise<Loaded[]> {
    const out: Loaded[] = new Array(works.length);
    const misses: number[] = [];
    const pipeline = this.o.redis.pipeline();
    works.forEach((w, i) => {
      const key = this.o.keys.state(w.ref, version);
      const hit = this.cache?.take(key);
      if (hit) {
        out[i] = { key, stored: { version: hit.version, bytes: undefined, offsets: hit.offsets }, state: hit.state };
      } else {
        misses.push(i);
        pipeline.hgetallBuffer(key);
        out[i] = { key, stored: EMPTY_STATE, state: undefined };
      }
    });
    if (misses.length === 0) return out;
    const replies = await execChecked(pipeline);
    misses.forEach((i, k) => (out[i]!.stored = parseStoredState(replies[k] as Record<string, Buffer>, out[i]!.key)));
    return out;
  }

  private plan(work: EntityWork, loaded: Loaded, nowMs: number, dead: DeadLetter[], version: number): Plan | undefined {
    const { engine } = this.o;
    const { stored } = loaded;
    const fenceField = work.topic === undefined ? undefined : this.layout.offsetField(work.topic, work.partition);
    const fence = fenceField === undefined ? -1 : (stored.offsets.get(fenceField) ?? -1);
    const fresh = work.events.filter((e) => e.offset > fence);
    if (work.topic !== undefined && fresh.length < work.events.length) {
      workerMetrics.eventsApplied.inc({ topic: work.topic, outcome: 'fenced' }, work.events.length - fresh.length);
    }
    if (fresh.length === 0 && !work.rematerialize) {
      if (loaded.state) this.cache?.put(loaded.key, { version: stored.version, offsets: stored.offsets, state: loaded.state });
      return undefined;
    }

    const state: EngineState = loaded.state ?? (stored.bytes ? engine.deserialize(stored.bytes) : engine.newState(work.ref.entityType));
    const appliedTimes: number[] = [];
    const outcomes = new Map<string, number>();
    for (const e of fresh) {
      try {
        const outcome = engine.apply(state, e.event, nowMs);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        if (outcome === 'applied') appliedTimes.push(e.event.eventTimeMs);
      } catch (err) {
        if (!(err instanceof InvalidEventError)) throw err;
        dead.push({ topic: work.topic!, partition: work.partition, message: e.message, error: err });
      }
    }
    engine.evict(state, nowMs);
    const evaluation = engine.evaluate(state, nowMs);
    const entity = this.layout.entity(work.ref.entityType);

    const keys = [loaded.key];
    const last = fresh.at(-1);
    const offsets = fenceField !== undefined && last !== undefined ? [fenceField, last.offset] : [];
    const applied = new Map(stored.offsets);
    if (fenceField !== undefined && last !== undefined) applied.set(fenceField, last.offset);
    const blocks: Packable[] = [];
    for (const group of entity.groups) {
      keys.push(this.o.keys.vector(work.ref, group.name, version));
      const values = evaluation.groups[group.name] ?? {};
      const set: Packable[] = [];
      const del: string[] = [];
      for (const feature of group.features) {
        const value = values[feature.name];
        if (value === undefined) del.push(feature.name);
        else set.push(feature.name, encodeFeatureValue(feature, value));
      }
      blocks.push([group.keyTtlMs, set, del]);
    }
    const block = [entity.groups.length, stored.version, entity.stateTtlMs, engine.serialize(state), offsets, blocks];
    return { work, state, offsets: applied, keys, block, next: engine.nextChangeAt(state, nowMs), appliedTimes, outcomes };
  }

  /** Returns the work whose CAS failed, to be reloaded and reapplied. */
  private async write(plans: Plan[], nowMs: number, version: number): Promise<EntityWork[]> {
    if (plans.length === 0) return [];
    const pipeline = this.o.redis.pipeline();
    const calls = this.calls(plans);
    for (const call of calls) {
      queueScript(pipeline, 'materialize', call.flatMap((plan) => plan.keys), [pack([nowMs, ...call.map((plan) => plan.block)])]);
    }
    // Event writes only pull timers earlier (ZADD LT), one command per timer index;
    // a spurious early timer costs one re-evaluation.
    const pull = new Map<string, Array<string | number>>();
    for (const plan of plans) {
      const { ref, partition, timerDue } = plan.work;
      const timers = this.o.keys.timers(partition, version);
      const member = timerMember(ref.entityType, ref.entityId);
      if (timerDue !== undefined) {
        queueScript(pipeline, 'timerReschedule', [timers], [member, timerDue, plan.next ?? '']);
      } else if (plan.next !== undefined) {
        const pairs = pull.get(timers) ?? [];
        pairs.push(plan.next, member);
        pull.set(timers, pairs);
      }
    }
    for (const [timers, pairs] of pull) pipeline.zadd(timers, 'LT', ...pairs);
    const started = performance.now();
    const replies = await execChecked(pipeline);
    const doneMs = Date.now();
    workerMetrics.redisWriteDuration.observe(performance.now() - started);

    const conflicts: EntityWork[] = [];
    // Counted per write, not per entity: labelled prom-client updates cost more than the rest of the bookkeeping.
    const applied = new Map<string, Map<string, number>>();
    let timerWrites = 0;
    for (const [c, call] of calls.entries()) {
      const statuses = replies[c] as number[];
      call.forEach((plan, i) => {
        if (statuses[2 * i] !== 1) {
          // The timer script may have run although the state write lost; the retry then
          // schedules with ZADD LT, which is right whatever the script did.
          conflicts.push({ ...plan.work, timerDue: undefined });
          return;
        }
        this.cache?.put(plan.keys[0]!, { version: statuses[2 * i + 1]!, offsets: plan.offsets, state: plan.state });
        for (const t of plan.appliedTimes) workerMetrics.freshness.observe(Math.max(0, doneMs - t));
        if (plan.work.rematerialize) timerWrites += 1;
        if (plan.work.topic === undefined) return;
        const byOutcome = applied.get(plan.work.topic) ?? new Map<string, number>();
        for (const [outcome, n] of plan.outcomes) byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + n);
        applied.set(plan.work.topic, byOutcome);
      });
    }
    for (const [topic, byOutcome] of applied) for (const [outcome, n] of byOutcome) workerMetrics.eventsApplied.inc({ topic, outcome }, n);
    if (timerWrites > 0) workerMetrics.timerWrites.inc(timerWrites);
    return conflicts;
  }

  /** Plans grouped into script calls: any entities on one node, only one slot's on a Cluster. */
  private calls(plans: Plan[]): Plan[][] {
    const calls: Plan[][] = [];
    if (!this.cluster) {
      for (let i = 0; i < plans.length; i += ENTITIES_PER_CALL) calls.push(plans.slice(i, i + ENTITIES_PER_CALL));
      return calls;
    }
    const bySlot = new Map<number, Plan[]>();
    for (const plan of plans) {
      const slot = keySlot(plan.keys[0]!);
      const group = bySlot.get(slot);
      if (group && group.length < ENTITIES_PER_CALL) group.push(plan);
      else {
        const fresh = [plan];
        calls.push(fresh);
        bySlot.set(slot, fresh);
      }
    }
    return calls;
  }
}

/** Replies that mean "not now" (restart, failover, overload) rather than "never". */
const TRANSIENT_REPLY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|OOM)\b/;

/**
 * Runs a pipeline. Connection failures, timeouts and transient replies are a
 * retriable Redis outage; any other error reply (a script bug, a wrong key
 * type) is not, so it cannot hold a partition in an endless retry loop.
 */
async function execChecked(pipeline: ChainableCommander): Promise<unknown[]> {
  return (await execPipeline(pipeline)).map(([err, value]) => {
    if (!err) return value;
    if (err.name === 'ReplyError' && !TRANSIENT_REPLY.test(err.message)) {
      throw new FeaturestreamError('STORE_REJECTED', `redis rejected a worker command: ${err.message}`, false, { cause: err });
    }
    throw new ServiceUnavailableError('redis', err.message, { cause: err });
  });
}
