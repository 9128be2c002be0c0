import { constants } from "node:os";

/**
 * Every signal a process can catch, forwarded to the guest process as runc
 * forwards to its container: the shim stands for it on the host. SIGCHLD is
 * ours; SIGPIPE is about our own pipes; SIGWINCH becomes a tty resize.
 */
const NOT_FORWARDED = new Set(["SIGKILL", "SIGSTOP", "SIGCHLD", "SIGPIPE", "SIGWINCH", "SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL"]);

export function forwardableSignals(): NodeJS.Signals[] {
  return (Object.keys(constants.signals) as NodeJS.Signals[]).filter(
    (s) => !NOT_FORWARDED.has(s) && constants.signals[s] !== undefined && s !== "SIGIOT" && s !== "SIGPOLL" && s !== "SIGUNUSED",
  );
}

export interface SignalHandlers {
  forward(signal: number): void;
  resize(): void;
}

/** Install handlers; returns a function removing them. */
export function installSignalHandlers(h: SignalHandlers): () => void {
  const installed: [NodeJS.Signals, () => void][] = [];
  const add = (sig: NodeJS.Signals, fn: () => void) => {
    try {
      process.on(sig, fn);
      installed.push([sig, fn]);
    } catch {
      // Some runtimes refuse a few signals (real-time ones); those keep their default.
    }
  };
  for (const sig of forwardableSignals()) add(sig, () => h.forward(constants.signals[sig]));
  add("SIGWINCH", () => h.resize());
  add("SIGPIPE", () => {});
  return () => {
    for (const [sig, fn] of installed) process.off(sig, fn);
  };
}
