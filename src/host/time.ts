/** Deadlines, once: a promise raced against a timer (failing, or just bounded), and a condition polled until it holds. */

/**
 * `promise`, or the error `onTimeout` makes when it has not settled within ms; the timer is
 * cleared either way. onTimeout runs only when the time ran out, so it may also undo what the
 * promise was waiting on (destroy a socket, drop a pending entry).
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/**
 * Wait for `promise` at most ms, no error either way: true when it settled (resolved or
 * rejected) in time, false when the time ran out first. The timer is cleared, and a
 * rejection, early or late, is absorbed here rather than reported as unhandled.
 */
export function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true,
    () => true,
  );
  return Promise.race([settled, expired]).finally(() => clearTimeout(timer));
}

export interface PollOptions {
  timeoutMs: number;
  intervalMs: number;
}

/** Check, then every intervalMs, until check() holds (true) or timeoutMs has passed (false). */
export async function pollUntil(check: () => boolean | Promise<boolean>, { timeoutMs, intervalMs }: PollOptions): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await Bun.sleep(intervalMs);
  }
}
