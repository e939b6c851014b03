/**
 * Paces work to `perSec` units per second across concurrent callers (virtual
 * scheduling: each take() books the next free slot and waits for it), so
 * parallel scan segments share one budget instead of each getting their own.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export class RateLimiter {
  private next = 0;

  constructor(
    private readonly perSec: number,
    private readonly clock: () => number = Date.now,
  ) {}

  async take(units: number): Promise<void> {
    if (!Number.isFinite(this.perSec) || units <= 0) return;
    const now = this.clock();
    const start = Math.max(this.next, now);
    this.next = start + (units * 1000) / this.perSec;
    if (start > now) await sleep(start - now);
  }
}
