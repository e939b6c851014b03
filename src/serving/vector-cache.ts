/**
 * The reader's in-process cache of finished vectors. An entry keeps the
 * stored vector and, once hit, its features with the on-demand ones computed:
 * frozen and shared by every hit while the request time stays inside the
 * window where the on-demand values cannot change (on-demand-window.ts). A hit
 * allocates only the small outer object (its `ageMs` is the caller's own);
 * vector-typed features are copied, because a Float32Array cannot be frozen.
 * A hit with a request context computes its on-demand features afresh from
 * the stored vector and keeps nothing: the shared features are only ever
 * computed without a context, so one caller's context never reaches another.
 */
import { LRUCache } from 'lru-cache';
import type { Registry, RequestContext } from '../schemas/registry.ts';
import { assembleFeatures, withOwnVectors, type OnDemandError } from './assemble.ts';
import type { StoredVector } from './decode.ts';
import { ALWAYS, windowAt, type TimeWindow } from './on-demand-window.ts';
import type { EntityPlan } from './plan.ts';
import type { FeatureVector, ServedValue } from './types.ts';

interface Entry {
  stored: StoredVector;
  /** Frozen; valid for request times in `window`. Undefined until the first hit. */
  features: Readonly<Record<string, ServedValue>> | undefined;
  window: TimeWindow;
}

const NEVER: TimeWindow = { from: 0, until: 0 };

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class VectorCache {
  private readonly lru: LRUCache<string, Entry>;

  constructor(
    private readonly registry: Registry,
    options: { ttl: number; max: number },
    private readonly onError?: OnDemandError,
  ) {
    this.lru = new LRUCache<string, Entry>(options);
  }

  /** The cached vector of `entityId`, or undefined on a miss. Synchronous. `context`: a non-empty request context. */
  hit(plan: EntityPlan, entityId: string, requestTimeMs: number, context?: RequestContext): FeatureVector | undefined {
    const entry = this.lru.get(`${plan.entity}:${entityId}`);
    if (entry === undefined) return undefined;
    let features: Readonly<Record<string, ServedValue>>;
    if (context !== undefined && plan.onDemand.length > 0) {
      // A private object (its vectors copied already): nothing of it is kept.
      features = assembleFeatures(this.registry, plan, entry.stored, requestTimeMs, context, this.onError);
    } else {
      let shared = entry.features;
      if (shared === undefined || !(requestTimeMs >= entry.window.from && requestTimeMs < entry.window.until)) {
        const fresh = assembleFeatures(this.registry, plan, entry.stored, requestTimeMs, undefined, this.onError);
        entry.window = plan.onDemand.length === 0 ? ALWAYS : windowAt(this.registry, plan.onDemand, fresh, requestTimeMs);
        entry.features = shared = Object.freeze(fresh);
      }
      features = plan.vectorSlots.length === 0 ? shared : withOwnVectors(plan, shared);
    }
    const { updatedMs, version } = entry.stored;
    const vector: Mutable<FeatureVector> = {
      entityId,
      features,
      source: 'cache',
      defaulted: entry.stored.defaulted,
      ageMs: updatedMs === undefined ? undefined : Math.max(0, Date.now() - updatedMs),
    };
    if (version !== undefined) vector.version = version;
    return vector;
  }

  set(plan: EntityPlan, entityId: string, stored: StoredVector): void {
    this.lru.set(`${plan.entity}:${entityId}`, { stored, features: undefined, window: NEVER });
  }

  clear(): void {
    this.lru.clear();
  }
}
