import { BootTimeoutError, HypervisorError, TimeoutError, isHuskError, type HuskError } from "../host/errors.ts";
import { readTail } from "../hypervisor/qemu/console.ts";
import type { Hypervisor, VmExit, VmSpec } from "../hypervisor/types.ts";
import { logger } from "../host/log.ts";

/**
 * Boot one VM and wait for its agent: prepare → start → agent handshake,
 * all within spec.bootTimeoutMs. On any failure QEMU is killed and cleaned up,
 * and the error carries the last lines of the guest console (read after the
 * kill, so nothing the guest printed is missing).
 */

const log = logger("monitor");

/**
 * Connects to the agent endpoint and completes the handshake within
 * timeoutMs; gives up (and lets go of the socket) when signal aborts.
 */
export type AgentConnector<A> = (socketPath: string, timeoutMs: number, signal: AbortSignal) => Promise<A>;

export interface BootResult<A> {
  agent: A;
  qemuPid: number;
  bootMs: number;
}

/** Why a started VM did not become ready. */
type BootFailure = { kind: "timeout" } | { kind: "exit"; exit: VmExit } | { kind: "handshake"; error: unknown };

class BootFailed {
  constructor(readonly failure: BootFailure) {}
}

export interface BootSteps<A> {
  /** After QEMU runs, before the agent is waited for (a clone restores its template here). */
  afterStart?: () => Promise<void>;
  /** After the handshake, before the VM counts as ready (a clone's cloneInit). */
  ready?: (agent: A) => Promise<void>;
}

export async function bootVm<A>(
  hv: Hypervisor,
  spec: VmSpec,
  connect: AgentConnector<A>,
  steps: BootSteps<A> = {},
): Promise<BootResult<A>> {
  const t0 = Date.now();
  const deadline = t0 + spec.bootTimeoutMs;
  await hv.prepare(spec); // nothing started yet: errors name the missing file
  let started = false;
  let agent: A | undefined;
  // A handshake still retrying after a failed boot would take the next VM's
  // agent socket (same path, QEMU serves one client): it is aborted and waited for.
  const giveUp = new AbortController();
  let connecting: Promise<unknown> | undefined;
  try {
    const { pid } = await hv.start();
    started = true;
    const endpoint = hv.agentEndpoint();
    if (endpoint.kind !== "unix") throw new HypervisorError(`agent endpoint ${endpoint.kind} is not supported by the monitor (only unix)`);
    const exited = hv.wait().then((exit) => ({ exit }));
    if (steps.afterStart) await steps.afterStart();
    const handshake = connect(endpoint.path, Math.max(1, deadline - Date.now()), giveUp.signal);
    connecting = handshake.catch(() => undefined);
    agent = await raceBoot(handshake, exited, deadline);
    if (steps.ready) await steps.ready(agent);
    const bootMs = Date.now() - t0;
    log.info(`sandbox ${spec.sandboxId}: agent ready after ${bootMs} ms`);
    return { agent, qemuPid: pid, bootMs };
  } catch (err) {
    giveUp.abort();
    if (agent === undefined) await connecting;
    const link = agent as { stop?: () => Promise<void> } | undefined;
    if (link?.stop) await link.stop().catch(() => {});
    if (started) await hv.stop({ timeoutMs: 1 }).catch((e) => log.warn(`stop after failed boot: ${String(e)}`));
    await hv.cleanup().catch((e) => log.warn(`cleanup after failed boot: ${String(e)}`));
    throw err instanceof BootFailed ? describeFailure(err.failure, spec) : err;
  }
}

/** The agent handshake, unless QEMU exits first or the deadline passes. */
async function raceBoot<A>(handshake: Promise<A>, exited: Promise<{ exit: VmExit }>, deadline: number): Promise<A> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), Math.max(0, deadline - Date.now()))));
  const shaken = handshake.then(
    (agent) => ({ agent }),
    (error: unknown) => ({ error }),
  );
  try {
    const first = await Promise.race([shaken, exited, timeout]);
    if (first === "timeout") throw new BootFailed({ kind: "timeout" });
    if ("exit" in first) throw new BootFailed({ kind: "exit", exit: first.exit });
    if ("error" in first) {
      const e = first.error;
      const timedOut = e instanceof TimeoutError || (e instanceof Error && e.name === "TimeoutError");
      throw new BootFailed(timedOut ? { kind: "timeout" } : { kind: "handshake", error: e });
    }
    return first.agent;
  } finally {
    clearTimeout(timer);
  }
}

function describeFailure(f: BootFailure, spec: VmSpec): HuskError {
  const details = { sandboxId: spec.sandboxId, consoleLog: spec.consoleLog };
  switch (f.kind) {
    case "timeout":
      return new BootTimeoutError(
        `sandbox ${spec.sandboxId}: the guest agent did not answer within ${spec.bootTimeoutMs} ms (hypervisor.boot_timeout_ms); VM killed` +
          consoleBlock(readTail(spec.consoleLog)),
        { details },
      );
    case "exit": {
      const e = f.exit;
      return new HypervisorError(
        `sandbox ${spec.sandboxId}: qemu exited during boot (${e.signal ? `killed by ${e.signal}` : `exit code ${e.code}`}) before the agent answered` +
          consoleBlock(readTail(spec.consoleLog) || e.consoleTail),
        { details },
      );
    }
    case "handshake": {
      const err = f.error;
      return new HypervisorError(
        `sandbox ${spec.sandboxId}: agent handshake failed: ${err instanceof Error ? err.message : String(err)}` +
          consoleBlock(readTail(spec.consoleLog)),
        { cause: err, details: { ...details, code: isHuskError(err) ? err.code : undefined } },
      );
    }
  }
}

function consoleBlock(tail: string): string {
  return tail ? `\n--- guest console (last lines) ---\n${tail}` : "\n(guest console is empty)";
}
