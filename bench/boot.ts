/**
 * Boot benchmark (not a test): the chosen guest configuration (minimal kernel,
 * PVH, microvm) against Debian's kernel through the same QEMU, on this
 * machine, sequentially. Each boot runs the real /init up to a trivial
 * "agent" script that prints the guest uptime and exits, so the time is
 * QEMU start → init → agent → VM down → QEMU exit.
 *
 *   bun bench/boot.ts [--runs 10] [--configs a,b] [--list]
 *
 * Prints one JSON line on stdout; progress goes to stderr.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildImage } from "../src/image/build.ts";
import { findDebianKernel } from "../src/image/kernel-debian.ts";
import type { ImageManifest } from "../src/image/manifest.ts";
import { bootOnce, hostTscKhz, type Machine, stats } from "./lib/boot-vm.ts";

const BUN = join(import.meta.dir, "../node_modules/bun/bin/bun.exe");

interface Config {
  name: string;
  image: "minimal" | "debian";
  machine: Machine;
  /** Boot Debian's compressed /boot/vmlinuz (bzImage) instead of the extracted vmlinux. */
  bzImage?: boolean;
  /** Extra params / params removed (by key). */
  add?: string[];
  drop?: string[];
}

const CONFIGS: Config[] = [
  { name: "minimal-pvh-microvm", image: "minimal", machine: "microvm" },
  { name: "minimal-pvh-pc", image: "minimal", machine: "pc", drop: ["acpi"] },
  { name: "minimal-pvh-q35", image: "minimal", machine: "q35", drop: ["acpi"] },
  { name: "debian-pvh-microvm", image: "debian", machine: "microvm" },
  { name: "debian-bzimage-microvm", image: "debian", machine: "microvm", bzImage: true },
  { name: "debian-bzimage-q35", image: "debian", machine: "q35", bzImage: true },
];
const DEFAULT = ["minimal-pvh-microvm", "debian-pvh-microvm", "debian-bzimage-microvm"];

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "10" },
    configs: { type: "string", default: DEFAULT.join(",") },
    list: { type: "boolean", default: false },
    memory: { type: "string", default: "256" },
  },
});
if (values.list) {
  process.stderr.write(`${CONFIGS.map((c) => c.name).join("\n")}\n`);
  process.exit(0);
}
const runs = Number(values.runs);
const chosen = values.configs.split(",").map((n) => {
  const c = CONFIGS.find((x) => x.name === n);
  if (!c) throw new Error(`unknown config ${n} (--list shows them)`);
  return c;
});

const note = (s: string) => process.stderr.write(`${s}\n`);
const work = await mkdtemp(join(tmpdir(), "husk-bench-boot-"));
try {
  const agentDir = join(work, "agent");
  await mkdir(agentDir);
  await writeFile(join(agentDir, "husk"), '#!/bin/sh\necho "AGENT-UPTIME=$(cut -d" " -f1 /proc/uptime)"\n');
  await chmod(join(agentDir, "husk"), 0o755);
  await mkdir(join(work, "shared"));

  const images = new Map<string, ImageManifest>();
  for (const kind of new Set(chosen.map((c) => c.image))) {
    note(`building the ${kind} image (kernel from the cache when built before)`);
    images.set(
      kind,
      await buildImage({ output: join(work, kind), kernel: kind, agentPath: BUN, onProgress: (e) => note(`  ${e.message}`) }),
    );
  }

  const results: Record<string, unknown> = {};
  for (const c of chosen) {
    const m = images.get(c.image)!;
    const dir = join(work, c.image);
    const kernel = c.bzImage ? (await findDebianKernel()).path : join(dir, m.kernel.path);
    const params = [...m.kernelParams.filter((p) => !(c.drop ?? []).includes(p.split("=")[0]!)), ...(c.add ?? [])];
    const times: number[] = [];
    const uptimes: number[] = [];
    const failures: string[] = [];
    for (let i = 0; i < runs; i++) {
      const r = await bootOnce({
        kernel,
        initrd: join(dir, m.initrd!.path),
        machine: c.machine,
        params,
        agentDir,
        sharedDir: join(work, "shared"),
        memoryMiB: Number(values.memory),
        timeoutMs: 90_000,
      });
      const up = /AGENT-UPTIME=([\d.]+)/.exec(r.console)?.[1];
      if (r.timedOut || r.exitCode !== 0 || !up) {
        failures.push(`run ${i + 1}: ${r.timedOut ? "timeout" : `exit ${r.exitCode}`}: ${r.console.slice(-300)}`);
      } else {
        times.push(r.ms);
        uptimes.push(Number(up) * 1000);
      }
      note(`${c.name} ${i + 1}/${runs}: ${Math.round(r.ms)} ms${up ? ` (agent at ${up} s guest uptime)` : " FAILED"}`);
    }
    results[c.name] = {
      machine: c.machine,
      kernel: c.bzImage ? "debian-bzImage" : `${m.kernel.kind}-${m.kernel.format}`,
      wallMs: times.length ? stats(times) : null,
      agentUptimeMs: uptimes.length ? stats(uptimes) : null,
      failures: failures.length,
      ...(failures.length ? { failureTails: failures.slice(0, 3) } : {}),
    };
  }
  process.stdout.write(
    `${JSON.stringify({ bench: "boot", runs, accel: "tcg", tscKhz: hostTscKhz(), memoryMiB: Number(values.memory), results })}\n`,
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
