import { constants } from "node:os";
import { UsageError } from "../../host/errors.ts";

/**
 * Signals as runc's kill takes them: a number (containerd: `kill ID 9`), a
 * name with or without SIG (the validation suite: KILL, TERM, USR1), any
 * case; SIGRTMIN+n / RTMIN+n too. 0 is the liveness probe (`kill ID 0`):
 * nothing is delivered, the command succeeds while the process exists.
 */
const SIGRTMIN = 34;
const SIGRTMAX = 64;

export function parseSignal(input: string): number {
  const s = input.trim();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n >= 0 && n <= SIGRTMAX) return n;
    throw new UsageError(`invalid signal ${JSON.stringify(input)}: out of range`);
  }
  let name = s.toUpperCase();
  if (!name.startsWith("SIG")) name = `SIG${name}`;
  const rt = /^SIGRT(MIN|MAX)([+-]\d+)?$/.exec(name);
  if (rt) {
    const n = (rt[1] === "MIN" ? SIGRTMIN : SIGRTMAX) + Number(rt[2] ?? 0);
    if (n >= SIGRTMIN && n <= SIGRTMAX) return n;
  }
  const n = (constants.signals as Record<string, number>)[name];
  if (n === undefined) throw new UsageError(`unknown signal ${JSON.stringify(input)}`);
  return n;
}
