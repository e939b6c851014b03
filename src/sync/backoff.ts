/**
 * Retry delay of a sync job: exponential, capped, with "equal jitter" (half
 * fixed, half random), so the jobs that failed together during an outage do
 * not all retry in the same instant when DynamoDB comes back.
 */
export interface BackoffOptions {
  baseMs: number;
  capMs: number;
}

export const BACKOFF_DEFAULTS: BackoffOptions = { baseMs: 1_000, capMs: 60_000 };

export function syncBackoffMs(attemptsMade: number, o: BackoffOptions = BACKOFF_DEFAULTS, random: () => number = Math.random): number {
  const exp = Math.min(o.capMs, o.baseMs * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}
