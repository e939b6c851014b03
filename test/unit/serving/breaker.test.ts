import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type BreakerState } from '../../../src/serving/breaker.ts';

function setup(options: ConstructorParameters<typeof CircuitBreaker>[0] = {}) {
  let t = 0;
  const transitions: BreakerState[] = [];
  const breaker = new CircuitBreaker({
    failureThreshold: 3,
    openMs: 1_000,
    maxInFlight: 2,
    now: () => t,
    onStateChange: (s) => transitions.push(s),
    ...options,
  });
  return { breaker, transitions, advance: (ms: number) => (t += ms) };
}

/** One complete call through the breaker: admitted, finished, outcome recorded. */
function call(breaker: CircuitBreaker, ok: boolean): boolean {
  if (!breaker.tryAcquire()) return false;
  breaker.release();
  if (ok) breaker.success();
  else breaker.failure();
  return true;
}

describe('CircuitBreaker', () => {
  it('opens after consecutive failures and refuses calls while open', () => {
    const { breaker, transitions } = setup();
    call(breaker, false);
    call(breaker, false);
    expect(breaker.state).toBe('closed');
    call(breaker, false);
    expect(breaker.state).toBe('open');
    expect(breaker.tryAcquire()).toBe(false);
    expect(transitions).toEqual(['open']);
  });

  it('a success resets the consecutive-failure count', () => {
    const { breaker } = setup();
    call(breaker, false);
    call(breaker, false);
    call(breaker, true);
    call(breaker, false);
    call(breaker, false);
    expect(breaker.state).toBe('closed');
  });

  it('half-opens after openMs, admits one probe, closes on its success', () => {
    const { breaker, advance, transitions } = setup();
    for (let i = 0; i < 3; i++) call(breaker, false);
    advance(999);
    expect(breaker.state).toBe('open');
    advance(1);
    expect(breaker.state).toBe('half-open');
    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.tryAcquire()).toBe(false);
    breaker.release();
    breaker.success();
    expect(breaker.state).toBe('closed');
    expect(transitions).toEqual(['open', 'half-open', 'closed']);
  });

  it('a failed probe re-opens for another full openMs', () => {
    const { breaker, advance } = setup();
    for (let i = 0; i < 3; i++) call(breaker, false);
    advance(1_000);
    expect(call(breaker, false)).toBe(true);
    expect(breaker.state).toBe('open');
    advance(999);
    expect(breaker.state).toBe('open');
    advance(1);
    expect(breaker.state).toBe('half-open');
  });

  it('refuses calls when in-flight is saturated and counts that as failure', () => {
    const { breaker } = setup({ failureThreshold: 2 });
    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.inFlight).toBe(2);
    expect(breaker.tryAcquire()).toBe(false);
    expect(breaker.state).toBe('closed');
    expect(breaker.tryAcquire()).toBe(false);
    expect(breaker.state).toBe('open');
    breaker.release();
    breaker.release();
    expect(breaker.inFlight).toBe(0);
  });

  it('late outcomes of calls admitted before opening do not disturb the open state', () => {
    const { breaker } = setup();
    expect(breaker.tryAcquire()).toBe(true);
    for (let i = 0; i < 3; i++) call(breaker, false);
    breaker.release();
    breaker.success();
    expect(breaker.state).toBe('open');
    breaker.failure();
    expect(breaker.state).toBe('open');
  });
});

describe('CircuitBreaker: failures of calls in flight together', () => {
  it('count once: one stall timing out every call in flight does not open it; failures of calls started after it do', () => {
    const { breaker } = setup({ maxInFlight: 100 });
    const inFlight: number[] = [];
    for (let i = 0; i < 10; i++) {
      expect(breaker.tryAcquire()).toBe(true);
      inFlight.push(breaker.admitted);
    }
    // One stall: all ten time out together.
    for (const admitted of inFlight) {
      breaker.release();
      breaker.failure(admitted);
    }
    expect(breaker.state).toBe('closed');
    // A dead backend: each new call fails after the last one counted.
    for (let i = 0; i < 2; i++) {
      expect(breaker.tryAcquire()).toBe(true);
      const admitted = breaker.admitted;
      breaker.release();
      breaker.failure(admitted);
    }
    expect(breaker.state).toBe('open');
  });
});
