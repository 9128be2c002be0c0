/**
 * Where should the agent executable (the 110 MB husk/Bun binary) live?
 * Benchmark (not a test) of three layouts with the minimal kernel on microvm:
 *   9p        — in the read-only 9p share "husk-agent" (the default)
 *   initramfs — inside an uncompressed initramfs
 *   lz4       — inside an lz4-compressed initramfs
 * The "agent" is Bun itself: the init runs `/husk/husk agent`, which makes
 * Bun run /agent, a script printing the guest uptime and MemAvailable.
 *
 *   bun bench/agent-location.ts [--runs 5]
 */
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildImage } from "../src/image/build.ts";
import { buildInitramfs, type InitramfsCompression } from "../src/image/initramfs.ts";
import { bootOnce, stats } from "./lib/boot-vm.ts";

const BUN = join(import.meta.dir, "../node_modules/bun/bin/bun.exe");
const { values } = parseArgs({ options: { runs: { type: "string", default: "5" }, memory: { type: "string", default: "512" } } });
const runs = Number(values.runs);
const note = (s: string) => process.stderr.write(`${s}\n`);

const work = await mkdtemp(join(tmpdir(), "husk-bench-agent-"));
try {
  const image = join(work, "image");
  const m = await buildImage({ output: image, kernel: "minimal", agentPath: BUN, onProgress: (e) => note(`  ${e.message}`) });
  const script = join(work, "agent.js");
  await writeFile(
    script,
    `const up = require("fs").readFileSync("/proc/uptime", "utf8").split(" ")[0];
const avail = /MemAvailable:\\s+(\\d+)/.exec(require("fs").readFileSync("/proc/meminfo", "utf8"))[1];
console.log("AGENT-UPTIME=" + up + " MEMAVAIL-KB=" + avail);\n`,
  );
  const agentJs = { source: script, dest: "/agent", mode: 0o644, size: (await stat(script)).size };
  const bunInImage = { source: BUN, dest: "/husk/husk", mode: 0o755, size: (await stat(BUN)).size };

  const layouts: Array<{ name: string; compression: InitramfsCompression; inImage: boolean }> = [
    { name: "9p", compression: "none", inImage: false },
    { name: "initramfs", compression: "none", inImage: true },
    { name: "initramfs-lz4", compression: "lz4", inImage: true },
  ];
  const results: Record<string, unknown> = {};
  for (const l of layouts) {
    const initrd = join(work, `${l.name}.cpio`);
    const r = await buildInitramfs({
      output: initrd,
      compression: l.compression,
      libsFor: [BUN],
      modules: [],
      extra: l.inImage ? [agentJs, bunInImage] : [agentJs],
    });
    const agentDir = join(work, `agent-${l.name}`);
    await mkdir(agentDir);
    if (!l.inImage) {
      await Bun.write(join(agentDir, "husk"), Bun.file(BUN));
      await chmod(join(agentDir, "husk"), 0o755);
    }
    const wall: number[] = [];
    const up: number[] = [];
    const avail: number[] = [];
    let failures = 0;
    for (let i = 0; i < runs; i++) {
      const b = await bootOnce({
        kernel: join(image, m.kernel.path),
        initrd,
        machine: "microvm",
        params: m.kernelParams,
        ...(l.inImage ? {} : { agentDir }),
        sharedDir: work,
        memoryMiB: Number(values.memory),
        timeoutMs: 120_000,
      });
      const x = /AGENT-UPTIME=([\d.]+) MEMAVAIL-KB=(\d+)/.exec(b.console);
      if (!x || b.exitCode !== 0) {
        failures++;
        note(`${l.name} ${i + 1}: FAILED ${b.console.slice(-400)}`);
        continue;
      }
      wall.push(b.ms);
      up.push(Number(x[1]) * 1000);
      avail.push(Number(x[2]) / 1024);
      note(
        `${l.name} ${i + 1}/${runs}: ${Math.round(b.ms)} ms, agent ran at ${x[1]} s, MemAvailable ${Math.round(Number(x[2]) / 1024)} MiB`,
      );
    }
    results[l.name] = {
      initrdBytes: r.size,
      wallMs: wall.length ? stats(wall) : null,
      agentRanAtMs: up.length ? stats(up) : null,
      memAvailableMiB: avail.length ? stats(avail) : null,
      failures,
    };
  }
  process.stdout.write(`${JSON.stringify({ bench: "agent-location", runs, memoryMiB: Number(values.memory), results })}\n`);
} finally {
  await rm(work, { recursive: true, force: true });
}
