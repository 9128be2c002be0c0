import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { VmHandle } from "../../../src/core/ports.ts";
import type { VmSpec } from "../../../src/hypervisor/types.ts";
import { readPidFile } from "../../../src/hypervisor/qemu/pidfile.ts";
import { MonitorBackend } from "../../../src/monitor/backend.ts";
import { HUSK } from "./env.ts";
import { imageVmSpec } from "./guest.ts";

/**
 * The real VmBackend as production wires it: MonitorBackend running the
 * compiled binary's `husk monitor` (./dist/husk), which owns QEMU booting
 * the guest image; the guest's own agent answers through monitor.sock.
 */
export function realBackend(): MonitorBackend {
  return new MonitorBackend({ command: [HUSK], stopTimeoutMs: 10_000 });
}

export interface RealVm {
  backend: MonitorBackend;
  spec: VmSpec;
  handle: VmHandle;
  /** QEMU's pid (from <dir>/qemu.pid, written by the monitor's driver). */
  qemuPid: number | undefined;
  bootMs: number;
}

/** Boot one sandbox VM of the guest image under root; errors carry the console and monitor log tails. */
export async function bootRealVm(root: string, sid: string, backend = realBackend()): Promise<RealVm> {
  const spec = imageVmSpec(root, sid);
  const t0 = performance.now();
  let handle: VmHandle;
  try {
    handle = await backend.boot(spec);
  } catch (e) {
    throw new Error(`real VM ${sid} did not boot: ${e instanceof Error ? e.message : String(e)}${tails(spec)}`, { cause: e });
  }
  const bootMs = Math.round(performance.now() - t0);
  console.info(`conformance: real VM ${sid} booted to its agent in ${bootMs} ms`);
  return { backend, spec, handle, qemuPid: readPidFile(join(spec.dir, "qemu.pid"))?.pid, bootMs };
}

function tails(spec: VmSpec): string {
  let out = "";
  for (const [title, file] of [
    ["console", spec.consoleLog],
    ["monitor log", join(spec.dir, "monitor.log")],
  ] as const) {
    if (!existsSync(file)) continue;
    out += `\n--- ${title} (last lines) ---\n${readFileSync(file, "utf8").split("\n").slice(-20).join("\n")}`;
  }
  return out;
}
