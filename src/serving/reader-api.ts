/**
 * The reader's public API: what get/getMany take and promise. Implemented by
 * reader.ts (createFeatureReader); the HTTP server and the CLI program
 * against this interface.
 */
import type { RegistryInput, RequestContext } from '../schemas/registry.ts';
import type { BreakerState } from './breaker.ts';
import type { ReadSource } from './fetcher.ts';
import type { EntityFeatureValues, EntityIdInput, EntityName, FeatureVector } from './types.ts';

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
  /**
   * getMany only. Default false: an invalid id becomes a rejected row
   * (`error` set, source `invalid`, no features) and the rest of the batch is
   * served. true: the whole call throws the EntityIdError instead. get() always throws.
   */
  strict?: boolean;
  /**
   * Only these features (stored or on-demand; the inputs of the on-demand ones
   * are read too). Groups holding none of them are not read. Unknown names
   * throw a ConfigError.
   */
  features?: readonly string[];
  /**
   * Request data for on-demand features: a compute function's second argument
   * and a zscore's `contextField`. Never cached: a call with a context
   * computes its on-demand features afresh (from the cached stored values
   * on a hit). Not an object: ConfigError.
   */
  context?: RequestContext;
}

export interface FeatureReader<C extends RegistryInput = RegistryInput> {
  /**
   * A composite entity's id may be given as its key values,
   * `{ user_id: 'u1', merchant_id: 'm9' }`, or as the string `'u1|m9'`; the
   * vector's `entityId` is the string.
   */
  get<E extends EntityName<C>>(entityType: E, id: EntityIdInput<C, E>, opts?: GetOptions): Promise<FeatureVector<EntityFeatureValues<C, E>>>;
  /**
   * An invalid id (or key object missing a key, or with `|` in a value) yields
   * a rejected row (`error` set, see FeatureVector) unless `strict`; the other
   * rows are served.
   */
  getMany<E extends EntityName<C>>(
    entityType: E,
    ids: ReadonlyArray<EntityIdInput<C, E>>,
    opts?: GetOptions,
  ): Promise<Array<FeatureVector<EntityFeatureValues<C, E>>>>;
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
