import { TimeoutError } from '../errors.ts';

/**
 * Races `work` against a timer. On expiry the returned promise rejects with a
 * TimeoutError and `work`'s eventual result is dropped (its rejection is
 * swallowed so a late failure is never an unhandled rejection).
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  if (ms <= 0) {
    work.catch(() => undefined);
    return Promise.reject(new TimeoutError(`${what}: no time left in the deadline`));
  }
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      work.catch(() => undefined);
      reject(new TimeoutError(`${what}: no answer within ${ms} ms`));
    }, ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** A settled promise that resolves after `ms` (or at once when ms <= 0); used for retry backoff inside a deadline. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
