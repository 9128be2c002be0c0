import { forwardableSignals } from "../../shim/signals.ts";

/**
 * While `run`/`exec` wait in the foreground, signals sent to the CLI (a ^C
 * without a tty, a kill from a script, SIGWINCH from the terminal) go to the
 * shim, which forwards them to the guest process. The shim lives in its own
 * session, so the terminal never signals it twice.
 */
export function relaySignalsTo(pid: number): () => void {
  const handlers: [NodeJS.Signals, () => void][] = [];
  for (const sig of [...forwardableSignals(), "SIGWINCH" as const]) {
    const fn = () => {
      try {
        process.kill(pid, sig);
      } catch {
        // The shim already exited: its status is on its way.
      }
    };
    try {
      process.on(sig, fn);
      handlers.push([sig, fn]);
    } catch {
      // not catchable here
    }
  }
  return () => {
    for (const [sig, fn] of handlers) process.off(sig, fn);
  };
}
