import { TimeoutError } from '../errors.ts';

/**
 * Races `work` against a timer. On expiry the returned promise rejects with a
 * TimeoutError and `work`'s eventual result is dropped (its rejection is
 * swallowed so a late failure is never an unhandled rejection).
 *
 * An expired timer is not yet a timeout: Node runs due timers before it reads
 * the sockets, so after the event loop was busy (GC, a burst of requests) the
 * timer fires while the answer already waits in the socket. The verdict is
 * therefore taken one turn later (setImmediate runs after the loop's I/O poll):
 * work that settled by then wins, and only work still unanswered times out.
 * So a late answer caused by our own busy loop is never blamed on the store.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  if (ms <= 0) {
    work.catch(() => undefined);
    return Promise.reject(new TimeoutError(`${what}: no time left in the deadline`));
  }
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (settled) return;
        settled = true;
        work.catch(() => undefined);
        reject(new TimeoutError(`${what}: no answer within ${ms} ms`));
      });
    }, ms);
    work.then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/**
 * Resolves once `work` settles or `ms` have passed, whichever is first, with
 * the same one-turn grace as withDeadline for answers already read. Never rejects.
 */
export function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => setImmediate(resolve), ms);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    work.then(done, done);
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
