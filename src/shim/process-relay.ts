import type { AgentClient } from "../agent/client.ts";
import type { ProcessStreams } from "../agent/types.ts";
import { logger } from "../host/log.ts";
import { settledWithin } from "../host/time.ts";
import { exitStatus } from "./exit.ts";
import type { HostIo } from "./host-io.ts";
import { pumpFdToStream, pumpStreamToFd } from "./relay.ts";

/**
 * Stand for one guest process on the host until it ends: relay its stdio
 * between the host fds and its streams, wait for its exit, then give its
 * output a moment to drain. The shim and `husk debug-console` both do this.
 */

const log = logger("relay");
/** How long to wait for the guest's output to drain after the process exited. */
const DRAIN_MS = 3000;
/** Status when the sandbox disappears under the process (VM stopped, monitor died): as if SIGKILLed. */
export const VM_GONE_STATUS = 137;

/** The process's exit status (128+signal when signalled; VM_GONE_STATUS when the VM went away). */
export async function relayUntilExit(
  agent: AgentClient,
  ref: { containerId: string; execId?: string },
  streams: ProcessStreams,
  io: Pick<HostIo, "input" | "output" | "error">,
  what: string,
): Promise<number> {
  const stopInput = new AbortController();
  const pumps: Promise<void>[] = [];
  if (streams.stdin) void pumpFdToStream(io.input, streams.stdin, stopInput.signal).catch((e) => log.debug("stdin relay", e));
  if (streams.stdout) pumps.push(pumpStreamToFd(streams.stdout, io.output).catch((e) => log.debug("stdout relay", e)));
  if (streams.stderr && io.error !== undefined)
    pumps.push(pumpStreamToFd(streams.stderr, io.error).catch((e) => log.debug("stderr relay", e)));

  const vmGone = new Promise<number>((resolve) => agent.onClose(() => resolve(VM_GONE_STATUS)));
  const status = await Promise.race([
    agent.call("waitProcess", ref).then(exitStatus, (e) => {
      log.warn(`waiting for ${what} failed: ${e instanceof Error ? e.message : String(e)}`);
      return VM_GONE_STATUS;
    }),
    vmGone,
  ]);
  stopInput.abort();
  await settledWithin(Promise.all(pumps), DRAIN_MS);
  return status;
}
