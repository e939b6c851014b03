/**
 * A small circuit breaker around one backend (Redis on the serving path).
 *
 *   closed     calls pass; `failureThreshold` consecutive failures open it.
 *   open       calls are refused at once for `openMs`, so a sick Redis costs
 *              nothing per request instead of a timeout per request.
 *   half-open  after `openMs`, up to `halfOpenProbes` calls go through; a
 *              success closes the breaker, a failure opens it again.
 *
 * In-flight saturation also counts: when `maxInFlight` calls are outstanding
 * the next one is refused and recorded as a failure, because a backlog on the
 * connection means every queued call is about to miss its deadline anyway.
 *
 * Admission (`tryAcquire`/`release`) is separate from the outcome
 * (`success`/`failure`): a call that timed out has failed as far as the caller
 * is concerned, but it still occupies the connection until its reply arrives.
 *
 * Calls in flight together that fail together are one failure, not many: a
 * single stall (Redis descheduled for 30 ms, a GC pause) times out every call
 * in flight at once, and counting each would open the breaker, and serve
 * fallbacks for `openMs`, on one event. So a failure passed the call's
 * admission number (`admitted` right after `tryAcquire`) counts only if the
 * call was admitted after the last failure counted; a dead backend still
 * opens the breaker within `failureThreshold` call durations.
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Consecutive failures (errors, timeouts, saturation) that open the breaker. Default 5. */
  failureThreshold?: number;
  /** Time the breaker stays open before letting probes through. Default 1000 ms. */
  openMs?: number;
  /** Concurrent probe calls allowed while half-open. Default 1. */
  halfOpenProbes?: number;
  /** Outstanding calls above which new calls are refused. Default 256. */
  maxInFlight?: number;
  /** Clock in ms; injectable for tests. */
  now?: () => number;
  onStateChange?: (state: BreakerState) => void;
}

export class CircuitBreaker {
  private readonly failureThreshold: number;
  private readonly openMs: number;
  private readonly halfOpenProbes: number;
  private readonly maxInFlight: number;
  private readonly now: () => number;
  private readonly onStateChange: ((state: BreakerState) => void) | undefined;

  private current: BreakerState = 'closed';
  private consecutiveFailures = 0;
  private openedAt = 0;
  private probes = 0;
  private outstanding = 0;
  /** Admission number of the last call admitted. */
  private admissions = 0;
  /** Calls admitted up to this number share the last failure counted. */
  private failedThrough = 0;

  constructor(options: BreakerOptions = {}) {
    this.failureThreshold = options.failureThreshold ?? 5;
    this.openMs = options.openMs ?? 1_000;
    this.halfOpenProbes = options.halfOpenProbes ?? 1;
    this.maxInFlight = options.maxInFlight ?? 256;
    this.now = options.now ?? Date.now;
    this.onStateChange = options.onStateChange;
  }

  /** The state as of now (an open breaker whose cool-down has passed reads as half-open). */
  get state(): BreakerState {
    if (this.current === 'open' && this.now() - this.openedAt >= this.openMs) this.transition('half-open');
    return this.current;
  }

  get inFlight(): number {
    return this.outstanding;
  }

  /** The admission number of the call `tryAcquire` last admitted: pass it to `failure`. */
  get admitted(): number {
    return this.admissions;
  }

  /**
   * Asks to start a call. On true the caller must call `release()` once the
   * call has really finished, and `success()` or `failure()` for its outcome.
   */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'open') return false;
    if (state === 'half-open') {
      if (this.probes >= this.halfOpenProbes) return false;
      this.probes++;
    } else if (this.outstanding >= this.maxInFlight) {
      this.failure();
      return false;
    }
    this.outstanding++;
    this.admissions++;
    return true;
  }

  release(): void {
    if (this.outstanding > 0) this.outstanding--;
  }

  success(): void {
    this.consecutiveFailures = 0;
    if (this.current === 'half-open') {
      this.probes = 0;
      this.transition('closed');
    }
  }

  /** `admitted`: the failed call's admission number; a call in flight when a failure was counted adds nothing. */
  failure(admitted?: number): void {
    if (this.current === 'half-open') {
      this.open();
      return;
    }
    if (this.current === 'open') return;
    if (admitted !== undefined && admitted <= this.failedThrough) return;
    this.failedThrough = this.admissions;
    this.consecutiveFailures++;
    if (this.consecutiveFailures >= this.failureThreshold) this.open();
  }

  private open(): void {
    this.openedAt = this.now();
    this.probes = 0;
    this.consecutiveFailures = 0;
    this.transition('open');
  }

  private transition(next: BreakerState): void {
    if (this.current === next) return;
    this.current = next;
    this.onStateChange?.(next);
  }
}

/**
 * One breaker per Redis target: the single node (`redis`), or each Cluster
 * master (`redis@host:port`), so a sick master trips only its own breaker
 * and the entities on the others are still read from Redis.
 */
export class BreakerSet {
  private readonly byTarget = new Map<string, CircuitBreaker>();

  constructor(
    private readonly options: Omit<BreakerOptions, 'onStateChange'>,
    private readonly onStateChange: (target: string, state: BreakerState) => void,
  ) {}

  /** The breaker of `target`, created closed on first use. */
  for(target: string): CircuitBreaker {
    let breaker = this.byTarget.get(target);
    if (breaker === undefined) {
      breaker = new CircuitBreaker({ ...this.options, onStateChange: (state) => this.onStateChange(target, state) });
      this.byTarget.set(target, breaker);
      this.onStateChange(target, 'closed');
    }
    return breaker;
  }

  /** The worst state over all targets: open, then half-open, then closed. */
  get state(): BreakerState {
    let worst: BreakerState = 'closed';
    for (const breaker of this.byTarget.values()) {
      const state = breaker.state;
      if (state === 'open') return 'open';
      if (state === 'half-open') worst = 'half-open';
    }
    return worst;
  }

  states(): Record<string, BreakerState> {
    const out: Record<string, BreakerState> = {};
    for (const [target, breaker] of this.byTarget) out[target] = breaker.state;
    return out;
  }
}
