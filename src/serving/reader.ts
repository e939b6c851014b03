/**
 * The serving reader: feature vectors for a batch of entities in one Redis
 * round trip, with an in-process cache, request coalescing, a per-call
 * deadline that always holds, a circuit breaker, DynamoDB fallback and
 * training-time defaults. Never throws for store trouble; throws only for
 * caller errors (invalid entity id, unknown entity type).
 */
import { LRUCache } from 'lru-cache';
import { computeOnDemand } from '../aggregations/on-demand.ts';
import type { FeatureValue, RegistryInput } from '../schemas/registry.ts';
import type { BreakerState } from './breaker.ts';
import { emptyCounts, defaultVector, type StoredVector } from './decode.ts';
import { validateEntityId } from '../schemas/entity-id.ts';
import type { ReadSource } from './fetcher.ts';
import { unknownEntity, type EntityPlan } from './plan.ts';
import { checkDeadline, marginFor, resolveReaderSetup, type FeatureReaderOptions, type ReaderSetup } from './setup.ts';
import type { EntityFeatureValues, EntityName, FeatureVector, ServedValue, VectorSource } from './types.ts';

export interface GetOptions {
  /** Time on-demand features are computed at; default Date.now(). */
  requestTimeMs?: number;
  /**
   * Overrides the reader's deadline for this call (a finite number of ms above
   * 0). It bounds this call only: a fetch it starts keeps the reader's own
   * budgets, so a short deadline never counts against Redis's health and a
   * caller joining that fetch keeps its own deadline.
   */
  deadlineMs?: number;
  /** `redis` or `dynamodb` read that store only, bypassing the cache (diagnostics). */
  source?: ReadSource;
}

export interface FeatureReader<C extends RegistryInput = RegistryInput> {
  get<E extends EntityName<C>>(entityType: E, id: string, opts?: GetOptions): Promise<FeatureVector<EntityFeatureValues<C, E>>>;
  getMany<E extends EntityName<C>>(entityType: E, ids: readonly string[], opts?: GetOptions): Promise<Array<FeatureVector<EntityFeatureValues<C, E>>>>;
  /** The worst breaker state over the Redis targets (the single node, or each Cluster master). */
  readonly breakerState: BreakerState;
  /** Each Redis target's breaker: `redis`, or `redis@host:port` per Cluster master. */
  breakerStates(): Record<string, BreakerState>;
  /**
   * Resolves true once Redis is connected (false after `timeoutMs`). Calls
   * made before that fall back at once, because the client never queues.
   */
  ready(timeoutMs?: number): Promise<boolean>;
  /** Closes the clients the reader created (not the ones passed in). */
  close(): Promise<void>;
}

type Batch = Promise<Array<StoredVector | undefined>>;

/** A fetch in flight: joiners read slot `index` of the batch result. */
interface InFlight {
  batch: Batch;
  index: number;
  /** performance.now() time the fetch gives up by; a joiner with a later deadline falls back on its own after it. */
  fetchBy: number;
}

/** What one call joined of one fetch in flight: its positions and the batch slots they read. */
interface Joined {
  flight: InFlight;
  positions: number[];
  slots: number[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Below this much time left, a joiner does not start a fallback read of its own. */
const MIN_FALLBACK_MS = 2;

type Assemble = (plan: EntityPlan, entityId: string, stored: StoredVector, source: VectorSource, requestTimeMs: number) => FeatureVector;

/** One get/getMany call: its answers so far and what it counts for metrics. */
class Call {
  readonly out: Array<FeatureVector | undefined>;
  readonly counts = emptyCounts();
  readonly sources: Record<VectorSource, number> = { cache: 0, redis: 0, dynamodb: 0, default: 0 };
  /** Set when the call returns; answers arriving later are dropped, the caller has its vectors. */
  done = false;

  constructor(
    readonly plan: EntityPlan,
    readonly ids: readonly string[],
    readonly requestTimeMs: number,
    private readonly assemble: Assemble,
  ) {
    this.out = new Array<FeatureVector | undefined>(ids.length);
  }

  /** `stored` undefined: no store answered, so defaults (not cached). */
  deliver(i: number, stored: StoredVector | undefined, source: VectorSource): void {
    if (this.done || this.out[i] !== undefined) return;
    this.sources[source]++;
    this.out[i] = this.assemble(this.plan, this.ids[i]!, stored ?? defaultVector(this.plan, this.counts, 'unavailable'), source, this.requestTimeMs);
  }
}

export function createFeatureReader<const C extends RegistryInput = RegistryInput>(options: FeatureReaderOptions<C>): FeatureReader<C> {
  return new Reader(resolveReaderSetup(options)) as unknown as FeatureReader<C>;
}

class Reader {
  private cache: LRUCache<string, StoredVector> | undefined;
  private inFlight = new Map<string, InFlight>();
  private readonly assemble: Assemble;

  constructor(private readonly s: ReaderSetup) {
    this.cache = s.cacheOptions ? new LRUCache<string, StoredVector>(s.cacheOptions) : undefined;
    this.assemble = (plan, entityId, stored, source, requestTimeMs) => this.finish(plan, entityId, stored, source, requestTimeMs);
    s.version.onChange = () => {
      // A new keyspace: nothing cached or in flight belongs to it.
      this.cache?.clear();
      this.inFlight = new Map();
    };
  }

  get breakerState(): BreakerState {
    return this.s.breakers.state;
  }

  breakerStates(): Record<string, BreakerState> {
    return this.s.breakers.states();
  }

  async get(entityType: string, id: string, opts?: GetOptions): Promise<FeatureVector> {
    return (await this.read(entityType, [id], opts))[0]!;
  }

  getMany(entityType: string, ids: readonly string[], opts?: GetOptions): Promise<FeatureVector[]> {
    return this.read(entityType, ids, opts);
  }

  ready(timeoutMs = 5_000): Promise<boolean> {
    return this.s.ready(timeoutMs);
  }

  async close(): Promise<void> {
    await this.s.close();
  }

  private async read(entityType: string, ids: readonly string[], opts: GetOptions | undefined): Promise<FeatureVector[]> {
    const started = performance.now();
    const plan = this.s.plans.get(entityType);
    if (plan === undefined) throw unknownEntity(entityType, this.s.plans);
    for (const id of ids) validateEntityId(id);
    const deadlineMs = opts?.deadlineMs === undefined ? this.s.deadlineMs : checkDeadline('get option deadlineMs', opts.deadlineMs);
    const source = opts?.source ?? 'auto';
    // This call answers by its own deadline, less a margin sized to it.
    const answerBy = started + deadlineMs - marginFor(deadlineMs);
    // A shared fetch runs to the reader's deadline at least, so a caller in a hurry cannot cut it
    // short for whoever joins it (or for the cache); a diagnostic read is private to its caller.
    const fetchMs = source === 'auto' ? Math.max(deadlineMs, this.s.deadlineMs) : deadlineMs;
    const fetchBy = started + fetchMs - marginFor(fetchMs);
    const call = new Call(plan, ids, opts?.requestTimeMs ?? Date.now(), this.assemble);
    const keyspaceVersion = this.s.version.current() ?? (await this.s.version.load(answerBy - performance.now()));
    const waits = this.collect(call, keyspaceVersion, answerBy, fetchBy, source);
    if (waits !== undefined) await settleBy(waits, answerBy);
    for (let i = 0; i < ids.length; i++) if (call.out[i] === undefined) call.deliver(i, undefined, 'default');
    call.done = true;
    this.record(started, ids.length, call);
    return call.out as FeatureVector[];
  }

  /**
   * Serves cache hits at once, joins fetches in flight and fetches the rest in
   * one batch; returns what to wait for (undefined when all were cache hits).
   */
  private collect(call: Call, keyspaceVersion: number, answerBy: number, fetchBy: number, source: ReadSource): Array<Promise<void>> | undefined {
    const { plan, ids } = call;
    const shared = source === 'auto';
    let waits: Array<Promise<void>> | undefined;
    // Allocated on the first miss only: the all-hits path stays allocation-light.
    let fetchIds: string[] | undefined;
    let fetchSlots: number[][] | undefined;
    let seen: Map<string, number> | undefined;
    let joins: Map<Batch, Joined> | undefined;
    let hits = 0;
    let joined = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const key = `${plan.entity}:${id}`;
      const hit = shared ? this.cache?.get(key) : undefined;
      if (hit !== undefined) {
        hits++;
        call.deliver(i, hit, 'cache');
        continue;
      }
      const flying = shared ? this.inFlight.get(key) : undefined;
      if (flying !== undefined) {
        joined++;
        let join = (joins ??= new Map()).get(flying.batch);
        if (join === undefined) joins.set(flying.batch, (join = { flight: flying, positions: [], slots: [] }));
        join.positions.push(i);
        join.slots.push(flying.index);
        continue;
      }
      if (fetchIds === undefined || fetchSlots === undefined || seen === undefined) {
        fetchIds = [];
        fetchSlots = [];
        seen = new Map();
      }
      const at = seen.get(id);
      if (at !== undefined) {
        fetchSlots[at]!.push(i);
        continue;
      }
      seen.set(id, fetchIds.length);
      fetchIds.push(id);
      fetchSlots.push([i]);
    }
    if (shared) {
      const m = this.s.metrics.cache;
      if (hits) m.inc({ result: 'hit' }, hits);
      if (joined) m.inc({ result: 'coalesced' }, joined);
      if (fetchIds) m.inc({ result: 'miss' }, fetchIds.length);
    }
    if (joins !== undefined) {
      for (const join of joins.values()) (waits ??= []).push(join.flight.batch.then((all) => this.joined(call, join, all, keyspaceVersion, answerBy)));
    }
    if (fetchIds !== undefined && fetchSlots !== undefined) {
      const slots = fetchSlots;
      const batch = this.s.fetcher.fetch({ plan, ids: fetchIds, keyspaceVersion, deadlineAt: fetchBy, source, counts: call.counts });
      if (shared) this.share(plan, fetchIds, batch, fetchBy);
      (waits ??= []).push(
        batch.then((all) => {
          for (let j = 0; j < slots.length; j++) {
            const stored = all[j];
            for (const i of slots[j]!) call.deliver(i, stored, stored?.source ?? 'default');
          }
        }),
      );
    }
    return waits;
  }

  /**
   * Delivers what a joined fetch found. Where it found nothing (no store
   * answered by the fetch's own deadline) and this caller's deadline is later,
   * the caller reads DynamoDB itself with the time it has left.
   */
  private async joined(call: Call, join: Joined, all: Array<StoredVector | undefined>, keyspaceVersion: number, answerBy: number): Promise<void> {
    const retry: number[] = [];
    for (let j = 0; j < join.positions.length; j++) {
      const stored = all[join.slots[j]!];
      if (stored !== undefined) call.deliver(join.positions[j]!, stored, stored.source);
      else retry.push(join.positions[j]!);
    }
    if (retry.length === 0 || !this.s.fetcher.hasFallback || answerBy - performance.now() < MIN_FALLBACK_MS) return;
    const ids = retry.map((i) => call.ids[i]!);
    const found = await this.s.fetcher.fetch({ plan: call.plan, ids, keyspaceVersion, deadlineAt: answerBy, source: 'dynamodb', counts: call.counts });
    for (let j = 0; j < retry.length; j++) {
      const stored = found[j];
      if (stored !== undefined) call.deliver(retry[j]!, stored, stored.source);
    }
  }

  /** Registers a batch so concurrent calls join it, and caches what it read. */
  private share(plan: EntityPlan, ids: readonly string[], batch: Batch, fetchBy: number): void {
    const entries = ids.map((id, index) => {
      const key = `${plan.entity}:${id}`;
      const entry: InFlight = { batch, index, fetchBy };
      this.inFlight.set(key, entry);
      return [key, entry] as const;
    });
    const inFlight = this.inFlight;
    void batch.then((all) => {
      for (const [key, entry] of entries) {
        if (inFlight.get(key) === entry) inFlight.delete(key);
        const stored = all[entry.index];
        // Only answers from a store are cached; "unavailable" must not outlive the outage.
        if (stored !== undefined && inFlight === this.inFlight) this.cache?.set(key, stored);
      }
    });
  }

  private finish(plan: EntityPlan, entityId: string, stored: StoredVector, source: VectorSource, requestTimeMs: number): FeatureVector {
    // Filled key by key in registry order, so every vector shares one hidden class. (Spreading
    // and then adding the on-demand keys drops V8 into dictionary mode: ~15 us a vector.)
    const features: Record<string, ServedValue> = {};
    const names = plan.featureNames;
    for (let i = 0; i < names.length; i++) features[names[i]!] = stored.values[i] as ServedValue;
    // Lists are frozen and shared; a Float32Array cannot be frozen, so each answer gets its own copy.
    for (const i of plan.vectorSlots) {
      const value = stored.values[i];
      if (value instanceof Float32Array) features[names[i]!] = value.slice();
    }
    if (plan.onDemand.length > 0) {
      // On-demand inputs are numbers; the lists it is handed are only read.
      const computed = computeOnDemand(this.s.registry, plan.entity, features as Record<string, FeatureValue>, requestTimeMs);
      for (const f of plan.onDemand) features[f.name] = computed[f.name] as FeatureValue;
    }
    const vector: Mutable<FeatureVector> = {
      entityId,
      features,
      source,
      defaulted: stored.defaulted.slice(),
      ageMs: stored.updatedMs === undefined ? undefined : Math.max(0, Date.now() - stored.updatedMs),
    };
    if (stored.version !== undefined) vector.version = stored.version;
    return vector;
  }

  private record(started: number, size: number, call: Call): void {
    const m = this.s.metrics;
    m.callDuration.observe(performance.now() - started);
    m.batchSize.observe(size);
    for (const source of VECTOR_SOURCES) if (call.sources[source]) m.vectors.inc({ source }, call.sources[source]);
    for (const reason of DEFAULT_REASONS) if (call.counts[reason]) m.defaulted.inc({ reason }, call.counts[reason]);
  }
}

const VECTOR_SOURCES = ['cache', 'redis', 'dynamodb', 'default'] as const;
const DEFAULT_REASONS = ['missing', 'corrupt', 'unavailable'] as const;

/** Waits for every promise or until `at` (performance.now() time), whichever is first. */
function settleBy(waits: Array<Promise<void>>, at: number): Promise<void> {
  const all = waits.length === 1 ? waits[0]! : Promise.all(waits).then(() => undefined);
  const ms = at - performance.now();
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    all.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      () => {
        clearTimeout(timer);
        resolve();
      },
    );
  });
}
