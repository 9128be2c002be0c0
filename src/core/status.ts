import { InvalidStateError } from "../host/errors.ts";

/**
 * The one state machine for sandboxes and containers (kata validTransition).
 * Nothing else decides whether a status may change.
 */
export const STATES = ["ready", "running", "paused", "stopped"] as const;
export type State = (typeof STATES)[number];

const TRANSITIONS: Readonly<Record<State, readonly State[]>> = {
  ready: ["running", "stopped"],
  running: ["paused", "stopped"],
  paused: ["running", "stopped"],
  stopped: ["running"],
};

export function canTransition(from: State, to: State): boolean {
  return TRANSITIONS[from].includes(to);
}

export function assertTransition(kind: "sandbox" | "container", id: string, from: State, to: State): void {
  if (!canTransition(from, to)) {
    throw new InvalidStateError(`cannot move ${kind} ${id} from ${from} to ${to}`, {
      details: { kind, id, from, to },
    });
  }
}

/** Guard for operations that need the object in one of some states. */
export function assertState(
  kind: "sandbox" | "container",
  id: string,
  current: State,
  allowed: readonly State[],
  operation: string,
): void {
  if (!allowed.includes(current)) {
    throw new InvalidStateError(
      `cannot ${operation} ${kind} ${id}: it is ${current} (needs ${allowed.join(" or ")})`,
      { details: { kind, id, state: current, allowed: [...allowed], operation } },
    );
  }
}

/** OCI runtime-spec status for a husk state. */
export type OciStatus = "creating" | "created" | "running" | "paused" | "stopped";
export function ociStatus(state: State): OciStatus {
  return state === "ready" ? "created" : state;
}
