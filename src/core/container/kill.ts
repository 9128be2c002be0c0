import { UsageError } from "../../host/errors.ts";
import type { VmHandle } from "../ports.ts";
import type { LoadedContainer, LoadedSandbox } from "../loaded.ts";
import { guardSandbox, guardContainer } from "../status.ts";

/** A signal number the guest can deliver: 0 (probe) to SIGRTMAX. */
export function checkSignal(signal: number): void {
  if (!Number.isInteger(signal) || signal < 0 || signal > 64) throw new UsageError(`invalid signal ${signal}`);
}

export async function killContainerIn(sb: LoadedSandbox, vm: VmHandle, c: LoadedContainer, signal: number, all: boolean): Promise<void> {
  checkSignal(signal);
  guardSandbox(sb.record.id, sb.current.state, "signalContainer");
  guardContainer(c.record.id, c.current.state, "kill");
  await vm.agent.call("signalProcess", { containerId: c.record.id, signal, all });
}
