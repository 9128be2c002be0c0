import { InvalidStateError } from "../host/errors.ts";

/**
 * The one state machine for sandboxes and containers (kata validTransition)
 * and the one table of which statuses each operation needs. Nothing else
 * decides whether a status may change or an operation may run.
 */
export const STATUSES = ["ready", "running", "paused", "stopped"] as const;
export type Status = (typeof STATUSES)[number];

const TRANSITIONS: Readonly<Record<Status, readonly Status[]>> = {
  ready: ["running", "stopped"],
  running: ["paused", "stopped"],
  paused: ["running", "stopped"],
  stopped: ["running"],
};

export function canTransition(from: Status, to: Status): boolean {
  return TRANSITIONS[from].includes(to);
}

export function assertTransition(kind: "sandbox" | "container", id: string, from: Status, to: Status): void {
  if (!canTransition(from, to)) {
    throw new InvalidStateError(`cannot move ${kind} ${id} from ${from} to ${to}`, {
      details: { kind, id, from, to },
    });
  }
}

interface Guard {
  /** Statuses the object must be in. */
  allowed: readonly Status[];
  /** The operation as error messages name it: "cannot <verb> sandbox <id>". */
  verb: string;
}

/** What each sandbox-level operation needs of the sandbox. */
export const SANDBOX_GUARDS = {
  start: { allowed: ["ready", "stopped"], verb: "start" },
  stop: { allowed: ["ready", "running", "paused"], verb: "stop" },
  pause: { allowed: ["running"], verb: "pause" },
  resume: { allowed: ["paused"], verb: "resume" },
  delete: { allowed: ["ready", "paused", "stopped"], verb: "delete" },
  createContainer: { allowed: ["ready", "running"], verb: "create a container in" },
  startContainer: { allowed: ["ready", "running"], verb: "start a container in" },
  stopContainer: { allowed: ["ready", "running"], verb: "stop a container in" },
  signalContainer: { allowed: ["ready", "running"], verb: "signal a container in" },
  deleteContainer: { allowed: ["ready", "running", "stopped"], verb: "delete a container in" },
  pauseContainer: { allowed: ["running"], verb: "pause a container in" },
  resumeContainer: { allowed: ["running"], verb: "resume a container in" },
} as const satisfies Record<string, Guard>;

/**
 * What each container-level operation needs of the container. Operations that
 * talk to the guest also need the sandbox's VM up and not paused
 * (GUEST_REACHABLE).
 */
export const CONTAINER_GUARDS = {
  start: { allowed: ["ready", "stopped"], verb: "start" },
  stop: { allowed: ["ready", "running", "paused"], verb: "stop" },
  kill: { allowed: ["ready", "running", "paused"], verb: "kill" },
  delete: { allowed: ["ready", "stopped"], verb: "delete" },
  exec: { allowed: ["ready", "running"], verb: "exec in" },
  ps: { allowed: ["ready", "running", "paused"], verb: "list processes of" },
  stats: { allowed: ["running", "paused"], verb: "get stats of" },
  update: { allowed: ["ready", "running", "paused"], verb: "update" },
  pause: { allowed: ["running"], verb: "pause" },
  resume: { allowed: ["paused"], verb: "resume" },
} as const satisfies Record<string, Guard>;

/** A sandbox whose guest can be talked to: booted and not paused. */
export const GUEST_REACHABLE: readonly Status[] = ["ready", "running"];

export type SandboxOperation = keyof typeof SANDBOX_GUARDS;
export type ContainerOperation = keyof typeof CONTAINER_GUARDS;

export function guardSandbox(id: string, current: Status, operation: SandboxOperation): void {
  const g: Guard = SANDBOX_GUARDS[operation];
  assertStatus("sandbox", id, current, g.allowed, g.verb);
}

export function guardContainer(id: string, current: Status, operation: ContainerOperation): void {
  const g: Guard = CONTAINER_GUARDS[operation];
  assertStatus("container", id, current, g.allowed, g.verb);
}

/** The guard itself; prefer guardSandbox/guardContainer, which take the allowed statuses from the tables. */
export function assertStatus(
  kind: "sandbox" | "container",
  id: string,
  current: Status,
  allowed: readonly Status[],
  operation: string,
): void {
  if (!allowed.includes(current)) {
    throw new InvalidStateError(`cannot ${operation} ${kind} ${id}: it is ${current} (needs ${allowed.join(" or ")})`, {
      details: { kind, id, state: current, allowed: [...allowed], operation },
    });
  }
}

/** OCI runtime-spec status for a husk status. */
export type OciStatus = "creating" | "created" | "running" | "paused" | "stopped";
export function ociStatus(status: Status): OciStatus {
  return status === "ready" ? "created" : status;
}
