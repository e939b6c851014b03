/**
 * One get/getMany call: its answers so far and what it counts for metrics;
 * plus the rows of ids it refuses and the wait bounded by its deadline.
 */
import { EntityIdError } from '../errors.ts';
import { entityIdOf, validateEntityId } from '../schemas/entity-id.ts';
import type { RequestContext } from '../schemas/registry.ts';
import { settleWithin } from './deadline.ts';
import { defaultVector, emptyCounts, type StoredVector } from './decode.ts';
import type { EntityPlan } from './plan.ts';
import type { FeatureVector, VectorSource } from './types.ts';

export type Assemble = (
  plan: EntityPlan,
  entityId: string,
  stored: StoredVector,
  source: VectorSource,
  requestTimeMs: number,
  context: RequestContext | undefined,
  nowMs: number,
) => FeatureVector;

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
    readonly context: RequestContext | undefined,
    private readonly assemble: Assemble,
  ) {
    this.out = new Array<FeatureVector | undefined>(ids.length);
  }

  /** A vector built already (a cache hit). */
  put(i: number, vector: FeatureVector): void {
    this.sources[vector.source]++;
    this.out[i] = vector;
  }

  /** `stored` undefined: no store answered, so defaults (not cached). `nowMs`: the clock for its age, read once per batch delivered. */
  deliver(i: number, stored: StoredVector | undefined, source: VectorSource, nowMs: number): void {
    if (this.done || this.out[i] !== undefined) return;
    this.sources[source]++;
    this.out[i] = this.assemble(this.plan, this.ids[i]!, stored ?? defaultVector(this.plan, this.counts, 'unavailable'), source, this.requestTimeMs, this.context, nowMs);
  }
}

const NO_FEATURES = Object.freeze({});
const NO_NAMES: readonly string[] = Object.freeze([]);

/**
 * The id string of one id as a caller passed it: a string is checked as is;
 * an object of key values (composite entities only) is joined in key order.
 * Throws EntityIdError for anything else.
 */
export function idOf(keys: readonly string[] | undefined, raw: unknown): string {
  if (typeof raw === 'string' || typeof raw !== 'object' || raw === null) return validateEntityId(raw);
  if (Array.isArray(raw)) throw new EntityIdError('entity id must be a string or an object of key values, got an array');
  if (keys === undefined) throw new EntityIdError('entity has a single key: pass its id as a string');
  return entityIdOf(keys, raw as Record<string, unknown>);
}

/** How a rejected row names an id that is not a string. */
function shown(raw: unknown): string {
  try {
    return JSON.stringify(raw) ?? String(raw);
  } catch {
    return String(raw);
  }
}

export interface ResolvedIds {
  /** The id string of every position (a rejected position holds ''). */
  ids: readonly string[];
  /** Rejected rows by position, or undefined when every id is valid. */
  rejected: Array<FeatureVector | undefined> | undefined;
}

/**
 * Id strings and rejected rows by position. Strings only and all valid (the
 * common case): the caller's own array, no allocation. `strict`: the first
 * invalid id throws its EntityIdError instead.
 */
export function resolveIds(keys: readonly string[] | undefined, input: readonly unknown[], strict: boolean): ResolvedIds {
  let ids: string[] | undefined;
  let rows: Array<FeatureVector | undefined> | undefined;
  for (let i = 0; i < input.length; i++) {
    const raw = input[i];
    let id = '';
    try {
      id = idOf(keys, raw);
    } catch (err) {
      if (strict || !(err instanceof EntityIdError)) throw err;
      (rows ??= new Array<FeatureVector | undefined>(input.length))[i] = {
        entityId: typeof raw === 'string' ? raw : shown(raw),
        features: NO_FEATURES,
        source: 'invalid',
        defaulted: NO_NAMES,
        ageMs: undefined,
        error: { code: err.code, message: err.message },
      };
    }
    if (ids === undefined && typeof raw !== 'string') ids = input.slice(0, i) as string[];
    ids?.push(id);
  }
  return { ids: ids ?? (input as readonly string[]), rejected: rows };
}

/** Waits for every promise or until `at` (performance.now() time), whichever is first (see settleWithin). */
export function settleBy(waits: Array<Promise<void>>, at: number): Promise<void> {
  return settleWithin(waits.length === 1 ? waits[0]! : Promise.all(waits), at - performance.now());
}
