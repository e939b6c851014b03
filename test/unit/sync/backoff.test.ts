import { describe, expect, it } from 'vitest';
import { syncBackoffMs } from '../../../src/sync/backoff.ts';
import { RateLimiter } from '../../../src/sync/rate-limit.ts';

describe('syncBackoffMs', () => {
  const o = { baseMs: 1_000, capMs: 60_000 };
  it('doubles per attempt between half and the full delay, up to the cap', () => {
    expect(syncBackoffMs(1, o, () => 0)).toBe(500);
    expect(syncBackoffMs(1, o, () => 1)).toBe(1_000);
    expect(syncBackoffMs(4, o, () => 0)).toBe(4_000);
    expect(syncBackoffMs(4, o, () => 1)).toBe(8_000);
    expect(syncBackoffMs(30, o, () => 1)).toBe(60_000);
    expect(syncBackoffMs(30, o, () => 0)).toBe(30_000);
  });
  it('spreads retries of jobs that failed together', () => {
    const delays = new Set(Array.from({ length: 50 }, () => syncBackoffMs(5, o)));
    expect(delays.size).toBeGreaterThan(10);
  });
});

describe('RateLimiter', () => {
  it('never waits without a rate', async () => {
    const started = performance.now();
    await new RateLimiter(Infinity).take(1e9);
    expect(performance.now() - started).toBeLessThan(50);
  });
  it('paces callers sharing one limiter to the rate', async () => {
    const limiter = new RateLimiter(100);
    const started = Date.now();
    await Promise.all([limiter.take(5), limiter.take(5), limiter.take(5)]);
    // 15 units at 100/s: the third caller's slot starts 100 ms after the first.
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
  });
});
