/**
 * The serving reader: feature vectors for a batch of entities in one Redis
 * round trip, with an in-process cache, request coalescing, a per-call
 * deadline that always holds, a circuit breaker, DynamoDB fallback and
 * training-time defaults. Never throws for store trouble; throws only for
 * caller errors (invalid entity id, unknown entity type).
 */
import { trace, type Span } from '@opentelemetry/api';
import type { RegistryInput, RequestContext } from '../schemas/registry.ts';
import { assembleFeatures, type OnDemandError } from './assemble.ts';
import { Call, idOf, resolveIds, settleBy, type Assemble } from './call.ts';
import type { BreakerState } from './breaker.ts';
import type { StoredVector } from './decode.ts';
import { validateEntityId } from '../schemas/entity-id.ts';
import type { ReadSource } from './fetcher.ts';
import { planSubset, unknownEntity, type EntityPlan } from './plan.ts';
import { checkContext, checkDeadline, marginFor, resolveReaderSetup, type FeatureReaderOptions, type ReaderSetup } from './setup.ts';
import type { EntityFeatureValues, EntityIdInput, EntityName, FeatureVector, VectorSource } from './types.ts';
import { VectorCache } from './vector-cache.ts';

import type { FeatureReader, GetOptions } from './reader-api.ts';

export type { FeatureReader, GetOptions } from './reader-api.ts';

type Batch = Promise<Array<StoredVector | undefined>>;

/**
 * A fetch in flight: joiners read slot `index` of the batch result. `batch` is
 * undefined only while the call registering it is still collecting its ids
 * (synchronously): meeting such an entry means the id is repeated in that call.
 */
interface InFlight {
  batch: Batch | undefined;
  index: number;
}

/** What one call joined of one fetch in flight: its positions and the batch slots they read. */
interface Joined {
  batch: Batch;
  positions: number[];
  slots: number[];
}

/** Distinct `features` lists whose plans are kept; an application uses a handful. */
const MAX_SUBSET_PLANS = 256;

/** Below this much time left, a joiner does not start a fallback read of its own. */
const MIN_FALLBACK_MS = 2;


export function createFeatureReader<const C extends RegistryInput = RegistryInput>(options: FeatureReaderOptions<C>): FeatureReader<C> {
  return new Reader<C>(resolveReaderSetup(options));
}

/**
 * Vectors of entity type E hold the features the registry gives E: the plan
 * of E, which the reader built from that registry, fills exactly those, so
 * the typed view is the same value.
 */
type Typed<C extends RegistryInput, E extends EntityName<C>> = FeatureVector<EntityFeatureValues<C, E>>;

class Reader<C extends RegistryInput> implements FeatureReader<C> {
  private readonly cache: VectorCache | undefined;
  /** Fetches in flight by entity type, then entity id (no key string to build per id). */
  private inFlight = new Map<string, Map<string, InFlight>>();
  private readonly subsets = new Map<string, EntityPlan>();
  private readonly assemble: Assemble;

  private readonly onDemandError: OnDemandError;

  constructor(private readonly s: ReaderSetup) {
    const errors = s.metrics.onDemandErrors;
    this.onDemandError = (feature) => errors.inc({ feature });
    this.cache = s.cacheOptions ? new VectorCache(s.registry, s.cacheOptions, this.onDemandError) : undefined;
    this.assemble = (plan, entityId, stored, source, requestTimeMs, context, nowMs) => this.finish(plan, entityId, stored, source, requestTimeMs, context, nowMs);
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

  get<E extends EntityName<C>>(entityType: E, id: EntityIdInput<C, E>, opts?: GetOptions): Promise<Typed<C, E>> {
    return this.getOne(entityType, id, opts) as Promise<Typed<C, E>>;
  }

  getMany<E extends EntityName<C>>(entityType: E, ids: ReadonlyArray<EntityIdInput<C, E>>, opts?: GetOptions): Promise<Array<Typed<C, E>>> {
    return this.getAll(entityType, ids, opts) as Promise<Array<Typed<C, E>>>;
  }

  private getOne(entityType: string, id: unknown, opts?: GetOptions): Promise<FeatureVector> {
    if (typeof id === 'string') {
      const hit = this.cachedOnly(entityType, id, opts);
      if (hit !== undefined) return Promise.resolve(hit);
      return this.read(entityType, [id], opts).then((vectors) => vectors[0]!);
    }
    let joined: string;
    try {
      joined = idOf(this.keysOf(entityType), id);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return this.getOne(entityType, joined, opts);
  }

  private getAll(entityType: string, ids: readonly unknown[], opts?: GetOptions): Promise<FeatureVector[]> {
    if (ids.length === 1 && typeof ids[0] === 'string') {
      const hit = this.cachedOnly(entityType, ids[0], opts);
      if (hit !== undefined) return Promise.resolve([hit]);
    }
    let resolved: ReturnType<typeof resolveIds>;
    try {
      resolved = resolveIds(this.keysOf(entityType), ids, opts?.strict === true);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const { ids: strings, rejected } = resolved;
    if (rejected === undefined) return this.read(entityType, strings, opts, true);
    // The valid ids are served as one batch; each invalid one keeps its position, never looked up.
    const valid = strings.filter((_, i) => rejected[i] === undefined);
    this.s.metrics.counts.vectors.invalid += ids.length - valid.length;
    return this.read(entityType, valid, opts, true).then((vectors) => {
      let next = 0;
      return ids.map((_, i) => rejected[i] ?? vectors[next++]!);
    });
  }

  ready(timeoutMs = 5_000): Promise<boolean> {
    return this.s.ready(timeoutMs);
  }

  async close(): Promise<void> {
    await this.s.close();
  }

  /**
   * The synchronous hit path: a cache hit with nothing else to do, counted in
   * plain numbers (exported at scrape time). Undefined sends the call down the
   * full path, which also reports every caller error. An id found in the cache
   * was validated when it was fetched.
   */
  private cachedOnly(entityType: string, id: string, opts: GetOptions | undefined): FeatureVector | undefined {
    if (this.cache === undefined) return undefined;
    let context: RequestContext | undefined;
    if (opts !== undefined) {
      if ((opts.source !== undefined && opts.source !== 'auto') || opts.features !== undefined) return undefined;
      const d = opts.deadlineMs;
      if (d !== undefined && !(typeof d === 'number' && Number.isFinite(d) && d > 0)) return undefined;
      if (opts.context !== undefined) {
        try {
          context = checkContext(opts.context);
        } catch {
          return undefined;
        }
      }
    }
    const plan = this.s.plans.get(entityType);
    if (plan === undefined || this.s.version.current() === undefined) return undefined;
    const vector = this.cache.hit(plan, id, opts?.requestTimeMs ?? Date.now(), context);
    if (vector === undefined) return undefined;
    const counts = this.s.metrics.counts;
    counts.cache.hit++;
    counts.vectors.cache++;
    return vector;
  }

  /** One span per call that reaches the full path (a no-op unless the application installs an OpenTelemetry SDK). */
  private async read(entityType: string, ids: readonly string[], opts: GetOptions | undefined, validated = false): Promise<FeatureVector[]> {
    const span = tracer.startSpan('featurestream.reader.getMany', { attributes: { 'featurestream.entity': entityType, 'featurestream.batch_size': ids.length } });
    try {
      return await this.readTraced(entityType, ids, opts, span, validated);
    } catch (err) {
      span.recordException(err as Error);
      throw err;
    } finally {
      span.end();
    }
  }

  private async readTraced(entityType: string, ids: readonly string[], opts: GetOptions | undefined, span: Span, validated: boolean): Promise<FeatureVector[]> {
    const started = performance.now();
    const full = this.s.plans.get(entityType);
    if (full === undefined) throw unknownEntity(entityType, this.s.plans);
    if (!validated) for (const id of ids) validateEntityId(id);
    const context = checkContext(opts?.context);
    const plan = opts?.features === undefined ? full : this.subset(full, opts.features);
    const deadlineMs = opts?.deadlineMs === undefined ? this.s.deadlineMs : checkDeadline('get option deadlineMs', opts.deadlineMs);
    // A subset's vectors are laid out differently from the cached ones: it reads privately, like a diagnostic read.
    const source = opts?.source ?? 'auto';
    const shared = source === 'auto' && plan === full;
    // This call answers by its own deadline, less a margin sized to it.
    const answerBy = started + deadlineMs - marginFor(deadlineMs);
    // A shared fetch runs to the reader's deadline at least, so a caller in a hurry cannot cut it
    // short for whoever joins it (or for the cache); a diagnostic read is private to its caller.
    const fetchMs = shared ? Math.max(deadlineMs, this.s.deadlineMs) : deadlineMs;
    const fetchBy = started + fetchMs - marginFor(fetchMs);
    const call = new Call(plan, ids, opts?.requestTimeMs ?? Date.now(), context, this.assemble);
    const keyspaceVersion = this.s.version.current() ?? (await this.s.version.load(answerBy - performance.now()));
    const waits = this.collect(call, keyspaceVersion, answerBy, fetchBy, source, shared);
    if (waits !== undefined) await settleBy(waits, answerBy);
    const now = Date.now();
    for (let i = 0; i < ids.length; i++) if (call.out[i] === undefined) call.deliver(i, undefined, 'default', now);
    call.done = true;
    this.record(started, ids.length, call);
    if (span.isRecording()) {
      for (const source of VECTOR_SOURCES) span.setAttribute(`featurestream.vectors.${source}`, call.sources[source]);
    }
    return call.out as FeatureVector[];
  }

  /**
   * Serves cache hits at once, joins fetches in flight and fetches the rest in
   * one batch; returns what to wait for (undefined when all were cache hits).
   */
  private collect(call: Call, keyspaceVersion: number, answerBy: number, fetchBy: number, source: ReadSource, shared: boolean): Array<Promise<void>> | undefined {
    const { plan, ids } = call;
    let waits: Array<Promise<void>> | undefined;
    // Allocated on the first miss only: the all-hits path stays allocation-light.
    let fetchIds: string[] | undefined;
    // Position of the first occurrence of each fetched id; repeats of an id as (position, fetch slot) pairs.
    let fetchAt: number[] | undefined;
    let repeats: number[] | undefined;
    // Slot of each fetched id: the in-flight entries a shared fetch registers, or a private map.
    const flights = shared ? this.flightsOf(plan.entity) : undefined;
    let seen: Map<string, number> | undefined;
    let registered: InFlight[] | undefined;
    let joins: Map<Batch, Joined> | undefined;
    let hits = 0;
    let joined = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const hit = shared ? this.cache?.hit(plan, id, call.requestTimeMs, call.context) : undefined;
      if (hit !== undefined) {
        hits++;
        call.put(i, hit);
        continue;
      }
      const slot = fetchIds?.length ?? 0;
      if (flights !== undefined) {
        const flying = flights.get(id);
        if (flying?.batch !== undefined) {
          joined++;
          const { batch } = flying;
          let join = (joins ??= new Map()).get(batch);
          if (join === undefined) joins.set(batch, (join = { batch, positions: [], slots: [] }));
          join.positions.push(i);
          join.slots.push(flying.index);
          continue;
        }
        if (flying !== undefined) {
          (repeats ??= []).push(i, flying.index);
          continue;
        }
        const entry: InFlight = { batch: undefined, index: slot };
        flights.set(id, entry);
        (registered ??= []).push(entry);
      } else {
        const at = (seen ??= new Map()).get(id);
        if (at !== undefined) {
          (repeats ??= []).push(i, at);
          continue;
        }
        seen.set(id, slot);
      }
      (fetchIds ??= []).push(id);
      (fetchAt ??= []).push(i);
    }
    if (shared) {
      const counted = this.s.metrics.counts.cache;
      counted.hit += hits;
      counted.coalesced += joined;
      if (fetchIds) counted.miss += fetchIds.length;
    }
    if (joins !== undefined) {
      for (const join of joins.values()) (waits ??= []).push(join.batch.then((all) => this.joined(call, join, all, keyspaceVersion, answerBy)));
    }
    if (fetchIds !== undefined && fetchAt !== undefined) {
      const positions = fetchAt;
      const again = repeats;
      const batch = this.s.fetcher.fetch({ plan, ids: fetchIds, keyspaceVersion, deadlineAt: fetchBy, source, counts: call.counts });
      if (flights !== undefined && registered !== undefined) this.share(plan, fetchIds, flights, registered, batch);
      (waits ??= []).push(
        batch.then((all) => {
          const now = Date.now();
          for (let j = 0; j < positions.length; j++) {
            const stored = all[j];
            call.deliver(positions[j]!, stored, stored?.source ?? 'default', now);
          }
          if (again === undefined) return;
          for (let r = 0; r < again.length; r += 2) {
            const stored = all[again[r + 1]!];
            call.deliver(again[r]!, stored, stored?.source ?? 'default', now);
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
    const now = Date.now();
    for (let j = 0; j < join.positions.length; j++) {
      const stored = all[join.slots[j]!];
      if (stored !== undefined) call.deliver(join.positions[j]!, stored, stored.source, now);
      else retry.push(join.positions[j]!);
    }
    if (retry.length === 0 || !this.s.fetcher.hasFallback || answerBy - performance.now() < MIN_FALLBACK_MS) return;
    const ids = retry.map((i) => call.ids[i]!);
    const found = await this.s.fetcher.fetch({ plan: call.plan, ids, keyspaceVersion, deadlineAt: answerBy, source: 'dynamodb', counts: call.counts });
    const later = Date.now();
    for (let j = 0; j < retry.length; j++) {
      const stored = found[j];
      if (stored !== undefined) call.deliver(retry[j]!, stored, stored.source, later);
    }
  }

  /** The in-flight fetches of one entity type. */
  private flightsOf(entity: string): Map<string, InFlight> {
    let flights = this.inFlight.get(entity);
    if (flights === undefined) this.inFlight.set(entity, (flights = new Map()));
    return flights;
  }

  /**
   * Opens the entries collect registered in `flights` (of the entity type),
   * `entries[j]` for `ids[j]`, to concurrent calls; when the batch is read,
   * closes them and caches what it read.
   */
  private share(plan: EntityPlan, ids: readonly string[], flights: Map<string, InFlight>, entries: readonly InFlight[], batch: Batch): void {
    const inFlight = this.inFlight;
    for (const entry of entries) entry.batch = batch;
    void batch.then((all) => {
      for (let index = 0; index < ids.length; index++) {
        const id = ids[index]!;
        if (flights.get(id) === entries[index]) flights.delete(id);
        const stored = all[index];
        // Only answers from a store are cached; "unavailable" must not outlive the outage.
        if (stored !== undefined && inFlight === this.inFlight) this.cache?.set(plan, id, stored);
      }
    });
  }

  /** The plan for a feature subset, compiled once per distinct list (a few per application). */
  private subset(full: EntityPlan, names: readonly string[]): EntityPlan {
    const key = `${full.entity}\u0000${names.join('\u0000')}`;
    let plan = this.subsets.get(key);
    if (plan === undefined) {
      plan = planSubset(this.s.registry, full, names);
      if (this.subsets.size >= MAX_SUBSET_PLANS) this.subsets.clear();
      this.subsets.set(key, plan);
    }
    return plan;
  }

  /** Key names of a composite entity type (undefined: single key). Throws for an unknown type, before any id is judged. */
  private keysOf(entityType: string): readonly string[] | undefined {
    if (!this.s.plans.has(entityType)) throw unknownEntity(entityType, this.s.plans);
    return this.s.registry.entity(entityType)?.keys;
  }

  private finish(plan: EntityPlan, entityId: string, stored: StoredVector, source: VectorSource, requestTimeMs: number, context: RequestContext | undefined, nowMs: number): FeatureVector {
    const features = assembleFeatures(this.s.registry, plan, stored, requestTimeMs, context, this.onDemandError);
    const { defaulted, updatedMs, version } = stored;
    const ageMs = updatedMs === undefined ? undefined : Math.max(0, nowMs - updatedMs);
    // One literal per shape: adding `version` afterwards would move every vector to a second hidden class.
    return version === undefined ? { entityId, features, source, defaulted, ageMs } : { entityId, features, source, defaulted, ageMs, version };
  }

  private record(started: number, size: number, call: Call): void {
    const m = this.s.metrics;
    m.callDuration.observe(performance.now() - started);
    m.batchSize.observe(size);
    for (const source of VECTOR_SOURCES) m.counts.vectors[source] += call.sources[source];
    for (const reason of DEFAULT_REASONS) if (call.counts[reason]) m.defaulted.inc({ reason }, call.counts[reason]);
  }
}

const tracer = trace.getTracer('featurestream');

const VECTOR_SOURCES = ['cache', 'redis', 'dynamodb', 'default', 'invalid'] as const;
const DEFAULT_REASONS = ['missing', 'corrupt', 'unavailable'] as const;
