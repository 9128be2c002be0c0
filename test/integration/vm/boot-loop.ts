/**
 * Boot reliability loop (not a test): boots the same VM N times, one at a
 * time, and reports each boot's time and every hang (no readiness within the
 * timeout). Prints one JSON line at the end.
 *
 *   bun test/integration/vm/boot-loop.ts [--n 50] [--machine microvm] [--timeout 60000]
 *        [--image /var/lib/husk/image]   real image: ready = agent handshake
 *        [--debian [--kernel K]]         Debian kernel (or K) + busybox init: ready = init marker
 *        [--params "quiet ..."] [--no-tsc]
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readImageManifest } from "../../../src/image/manifest.ts";
import { QemuHypervisor } from "../../../src/hypervisor/qemu/index.ts";
import { probeHost } from "../../../src/hypervisor/qemu/probe.ts";
import type { VmSpec } from "../../../src/hypervisor/types.ts";
import { bootVm } from "../../../src/monitor/boot.ts";
import { connectGuest } from "../../../src/monitor/guest.ts";
import { debianKernel, makeInitramfs } from "./fixture.ts";

const { values: o } = parseArgs({
  options: {
    n: { type: "string", default: "50" },
    machine: { type: "string", default: "microvm" },
    timeout: { type: "string", default: "60000" },
    image: { type: "string" },
    debian: { type: "boolean", default: false },
    params: { type: "string", default: "" },
    "no-tsc": { type: "boolean", default: false },
    memory: { type: "string", default: "256" },
    kernel: { type: "string" },
  },
});

const n = Number(o.n);
const timeoutMs = Number(o.timeout);
const work = mkdtempSync(join(tmpdir(), "husk-bootloop-"));
const MARKER = "HUSK-BOOT-LOOP-READY";

let kernel: string;
let initrd: string | undefined;
let agentDir: string | undefined;
let imageParams: string[] = [];
const mode = o.debian ? "marker" : "agent";
if (o.debian) {
  kernel = o.kernel ?? debianKernel()!;
  initrd = makeInitramfs(MARKER, "poweroff -f", join(work, "initrd"));
} else {
  const dir = o.image ?? "/var/lib/husk/image";
  const m = await readImageManifest(dir);
  kernel = join(dir, m.kernel.path);
  initrd = m.initrd ? join(dir, m.initrd.path) : undefined;
  agentDir = m.agentDir ? join(dir, m.agentDir) : undefined;
  imageParams = m.kernelParams; // the driver adds them itself; listed for the report
}
const host = probeHost();
if (o["no-tsc"]) host.tscKhz = undefined;

const times: number[] = [];
const hangs: Array<{ i: number; tail: string }> = [];
const failures: Array<{ i: number; error: string }> = [];

for (let i = 0; i < n; i++) {
  const dir = join(work, `b${i}`);
  mkdirSync(join(dir, "shared"), { recursive: true });
  const spec: VmSpec = {
    sandboxId: `loop${i}`,
    dir,
    sharedDir: join(dir, "shared"),
    binary: "qemu-system-x86_64",
    kernel,
    ...(initrd ? { initrd } : {}),
    ...(agentDir ? { agentDir } : {}),
    machine: o.machine!,
    accelerator: "auto",
    vcpus: 1,
    memoryMiB: Number(o.memory),
    kernelParams: o.params ? o.params.split(" ") : [],
    bootTimeoutMs: timeoutMs,
    consoleLog: join(dir, "console.log"),
    qmpSocket: join(dir, "qmp.sock"),
    agentSocket: join(dir, "agent.sock"),
  };
  const hv = new QemuHypervisor({ host });
  const t0 = performance.now();
  try {
    if (mode === "agent") {
      const { agent } = await bootVm(hv, spec, connectGuest);
      times.push(performance.now() - t0);
      await agent.channel.call("shutdown", {}, { timeoutMs: 5000 }).catch(() => {});
      await Promise.race([hv.wait(), Bun.sleep(500)]); // acpi=off: "power off" halts, QMP quit follows
      await agent.stop();
    } else {
      await hv.prepare(spec);
      await hv.start();
      const exit = await Promise.race([hv.wait(), Bun.sleep(timeoutMs).then(() => undefined)]);
      const ms = performance.now() - t0;
      if (exit === undefined) throw Object.assign(new Error("hang"), { hang: true });
      if (!readFileSync(spec.consoleLog, "utf8").includes(MARKER))
        throw new Error(`exited without the marker: ${exit.consoleTail.slice(-300)}`);
      times.push(ms);
    }
    console.error(`boot ${i + 1}/${n}: ${Math.round(times.at(-1)!)} ms`);
  } catch (err) {
    const e = err as Error & { hang?: boolean; code?: string };
    const tail = readFileSync(spec.consoleLog, "utf8").split("\n").slice(-5).join(" | ");
    if (e.hang || e.code === "E_BOOT_TIMEOUT") hangs.push({ i, tail });
    else failures.push({ i, error: e.message.slice(0, 500) });
    console.error(`boot ${i + 1}/${n}: ${e.hang || e.code === "E_BOOT_TIMEOUT" ? "HANG" : "FAILED"}: ${tail}`);
  } finally {
    await hv.stop({ timeoutMs: 2000 }).catch(() => {});
    await hv.cleanup().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}
rmSync(work, { recursive: true, force: true });

const sorted = [...times].sort((a, b) => a - b);
const pct = (p: number) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!) : null);
console.log(
  JSON.stringify({
    bench: "boot-loop",
    mode,
    machine: o.machine,
    kernel,
    imageParams,
    extraParams: o.params,
    tscEarlyKhz: host.tscKhz ?? null,
    boots: n,
    ok: times.length,
    hangs: hangs.length,
    failures: failures.length,
    medianMs: pct(0.5),
    p90Ms: pct(0.9),
    minMs: sorted.length ? Math.round(sorted[0]!) : null,
    maxMs: sorted.length ? Math.round(sorted.at(-1)!) : null,
    hangDetails: hangs,
    failureDetails: failures,
  }),
);
process.exit(hangs.length || failures.length ? 1 : 0);
