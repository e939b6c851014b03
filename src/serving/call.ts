/**
 * One get/getMany call: its answers so far and what it counts for metrics;
 * plus the rows of ids it refuses and the wait bounded by its deadline.
 */
import { EntityIdError } from '../errors.ts';
import { validateEntityId } from '../schemas/entity-id.ts';
import { defaultVector, emptyCounts, type StoredVector } from './decode.ts';
import type { EntityPlan } from './plan.ts';
import type { FeatureVector, VectorSource } from './types.ts';

export type Assemble = (plan: EntityPlan, entityId: string, stored: StoredVector, source: VectorSource, requestTimeMs: number) => FeatureVector;

/** One get/getMany call: its answers so far and what it counts for metrics. */
export class Call {
  readonly out: Array<FeatureVector | undefined>;
  readonly counts = emptyCounts();
  readonly sources: Record<VectorSource, number> = { cache: 0, redis: 0, dynamodb: 0, default: 0, invalid: 0 };
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

  /** A vector built already (a cache hit). */
  put(i: number, vector: FeatureVector): void {
    this.sources[vector.source]++;
    this.out[i] = vector;
  }

  /** `stored` undefined: no store answered, so defaults (not cached). */
  deliver(i: number, stored: StoredVector | undefined, source: VectorSource): void {
    if (this.done || this.out[i] !== undefined) return;
    this.sources[source]++;
    this.out[i] = this.assemble(this.plan, this.ids[i]!, stored ?? defaultVector(this.plan, this.counts, 'unavailable'), source, this.requestTimeMs);
  }
}

const NO_FEATURES = Object.freeze({});
const NO_NAMES: readonly string[] = Object.freeze([]);

/** Rejected rows by position, or undefined when every id is valid (the common case, no allocation). */
export function rejectedRows(ids: readonly string[]): Array<FeatureVector | undefined> | undefined {
  let rows: Array<FeatureVector | undefined> | undefined;
  for (let i = 0; i < ids.length; i++) {
    try {
      validateEntityId(ids[i]);
    } catch (err) {
      if (!(err instanceof EntityIdError)) throw err;
      (rows ??= new Array<FeatureVector | undefined>(ids.length))[i] = {
        entityId: String(ids[i]),
        features: NO_FEATURES,
        source: 'invalid',
        defaulted: NO_NAMES,
        ageMs: undefined,
        error: { code: err.code, message: err.message },
      };
    }
  }
  return rows;
}

/** Waits for every promise or until `at` (performance.now() time), whichever is first. */
export function settleBy(waits: Array<Promise<void>>, at: number): Promise<void> {
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
