/** Deadlines, once: a promise raced against a timer, and a condition polled until it holds. */

/** `promise`, or the error `onTimeout` makes when it has not settled within ms; the timer is cleared either way. */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
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
