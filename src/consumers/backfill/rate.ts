/**
 * Token bucket for `--rate`: a replay must not saturate the Redis the live
 * worker and readers share. Waits in short slices, calling `between` (the
 * kafkajs heartbeat) so a long wait never costs the group membership.
 */
import { setTimeout as sleep } from 'node:timers/promises';

const SLICE_MS = 500;
/** Burst allowance in seconds of rate: small, so even a short replay keeps to the limit. */
const BURST_S = 0.25;

export class RateLimiter {
  private readonly capacity: number;
  private tokens: number;
  private last = performance.now();

  constructor(private readonly perSecond: number) {
    this.capacity = Math.max(1, perSecond * BURST_S);
    this.tokens = this.capacity;
  }

  async take(n: number, between: () => Promise<void>, keepGoing: () => boolean): Promise<void> {
    // A batch larger than the bucket may fill it up to its own size: it waits for all its tokens, never runs on credit.
    const cap = Math.max(this.capacity, n);
    for (;;) {
      const now = performance.now();
      // Never below the current level: a smaller waiter must not drop tokens a larger one is saving up.
      this.tokens = Math.min(Math.max(cap, this.tokens), this.tokens + ((now - this.last) * this.perSecond) / 1000);
      this.last = now;
      if (this.tokens >= n || !keepGoing()) {
        this.tokens -= n;
        return;
      }
      await sleep(Math.min(SLICE_MS, Math.max(1, ((n - this.tokens) * 1000) / this.perSecond)));
      await between();
    }
  }
}
