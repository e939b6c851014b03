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
import { resolveReaderSetup, type FeatureReaderOptions, type ReaderSetup } from './setup.ts';
import type { EntityFeatureValues, EntityName, FeatureVector, VectorSource } from './types.ts';

export interface GetOptions {
  /** Time on-demand features are computed at; default Date.now(). */
  requestTimeMs?: number;
  /** Overrides the reader's deadline for this call. */
  deadlineMs?: number;
  /** `redis` or `dynamodb` read that store only, bypassing the cache (diagnostics). */
  source?: ReadSource;
}

export interface FeatureReader<C extends RegistryInput = RegistryInput> {
  get<E extends EntityName<C>>(entityType: E, id: string, opts?: GetOptions): Promise<FeatureVector<EntityFeatureValues<C, E>>>;
  getMany<E extends EntityName<C>>(entityType: E, ids: readonly string[], opts?: GetOptions): Promise<Array<FeatureVector<EntityFeatureValues<C, E>>>>;
  readonly breakerState: BreakerState;
  /**
   * Resolves true once Redis is connected (false after `timeoutMs`). Calls
   * made before that fall back at once, because the client never queues.
   */
  ready(timeoutMs?: number): Promise<boolean>;
  /** Closes the clients the reader created (not the ones passed in). */
  close(): Promise<void>;
}

/** A fetch in flight: joiners read slot `index` of the batch result. */
interface InFlight {
  batch: Promise<Array<StoredVector | undefined>>;
  index: number;
}

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
    return this.s.breaker.state;
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
    const deadlineAt = started + (opts?.deadlineMs ?? this.s.deadlineMs);
    const call = new Call(plan, ids, opts?.requestTimeMs ?? Date.now(), this.assemble);
    const keyspaceVersion = this.s.version.current() ?? (await this.s.version.load(deadlineAt - performance.now()));
    const waits = this.collect(call, keyspaceVersion, deadlineAt, opts?.source ?? 'auto');
    if (waits !== undefined) await settleBy(waits, deadlineAt - this.s.marginMs);
    for (let i = 0; i < ids.length; i++) if (call.out[i] === undefined) call.deliver(i, undefined, 'default');
    call.done = true;
    this.record(started, ids.length, call);
    return call.out as FeatureVector[];
  }

  /**
   * Serves cache hits at once, joins fetches in flight and fetches the rest in
   * one batch; returns what to wait for (undefined when all were cache hits).
   */
  private collect(call: Call, keyspaceVersion: number, deadlineAt: number, source: ReadSource): Array<Promise<void>> | undefined {
    const { plan, ids } = call;
    const shared = source === 'auto';
    let waits: Array<Promise<void>> | undefined;
    // Allocated on the first miss only: the all-hits path stays allocation-light.
    let fetchIds: string[] | undefined;
    let fetchSlots: number[][] | undefined;
    let seen: Map<string, number> | undefined;
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
        (waits ??= []).push(flying.batch.then((all) => call.deliver(i, all[flying.index], all[flying.index]?.source ?? 'default')));
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
    if (fetchIds !== undefined && fetchSlots !== undefined) {
      const slots = fetchSlots;
      const batch = this.s.fetcher.fetch({ plan, ids: fetchIds, keyspaceVersion, deadlineAt: deadlineAt - this.s.marginMs, source, counts: call.counts });
      if (shared) this.share(plan, fetchIds, batch);
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

  /** Registers a batch so concurrent calls join it, and caches what it read. */
  private share(plan: EntityPlan, ids: readonly string[], batch: Promise<Array<StoredVector | undefined>>): void {
    const entries = ids.map((id, index) => {
      const key = `${plan.entity}:${id}`;
      const entry = { batch, index };
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
    const features: Record<string, FeatureValue> = {};
    const names = plan.featureNames;
    for (let i = 0; i < names.length; i++) features[names[i]!] = stored.values[i] as FeatureValue;
    if (plan.onDemand.length > 0) {
      const computed = computeOnDemand(this.s.registry, plan.entity, features, requestTimeMs);
      for (const f of plan.onDemand) features[f.name] = computed[f.name] as FeatureValue;
    }
    const vector: FeatureVector = {
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
