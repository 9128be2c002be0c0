/**
 * Memory benchmark (not a test): the host memory an idle husk sandbox costs
 * (QEMU + monitor + shim, PSS from /proc/<pid>/smaps_rollup, so pages shared
 * between processes — the husk executable, a template's RAM — are split
 * fairly), with N = 1 and N = 10 sandboxes side by side, templates off
 * (cold boots) and on (clones), against a raw QEMU running the same kernel +
 * initramfs with a guest that only sleeps. A template's own RAM file (tmpfs)
 * is reported too: the part no clone maps is paid once per host.
 *
 *   bun bench/memory.ts [--husk dist/husk] [--config FILE] [--settle 3] [--counts 1,10]
 *
 * One JSON line on stdout; progress on stderr.
 */
import { readFile, rm } from "node:fs/promises";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/load.ts";
import { QEMU_PID_FILE } from "../src/host/layout.ts";
import { readPidFile } from "../src/hypervisor/qemu/pidfile.ts";
import { bareImageBoot, bootArgs, hostTscKhz } from "./lib/boot-vm.ts";
import { factoryConfigs, huskOut } from "./lib/factory-config.ts";

const { values } = parseArgs({
  options: {
    husk: { type: "string", default: join(import.meta.dir, "../dist/husk") },
    config: { type: "string" },
    settle: { type: "string", default: "3" },
    counts: { type: "string", default: "1,10" },
  },
});
const husk = resolve(values.husk!);
const counts = values.counts!.split(",").map(Number);
const note = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = (kib: number) => +(kib / 1024).toFixed(1);

function pssKiB(pid: number): number {
  const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
  if (!m) throw new Error(`no Pss for ${pid}`);
  return Number(m[1]);
}

/**
 * PSS of QEMU's TCG translation cache: the anonymous mapping of the
 * configured tb-size (MiB). KVM hosts have no such cache.
 */
function tcgCacheKiB(pid: number, tbMiB: number): number {
  let total = 0;
  let size = 0;
  let anon = false;
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(\S*)/.exec(line);
    if (head) {
      size = (Number.parseInt(head[2]!, 16) - Number.parseInt(head[1]!, 16)) / (1024 * 1024);
      anon = head[3] === "";
      continue;
    }
    const pss = /^Pss:\s+(\d+) kB/.exec(line);
    if (pss && anon && size >= tbMiB - 2 && size <= tbMiB + 1) total += Number(pss[1]);
  }
  return total;
}

/** Pids whose command line contains every needle. */
function findPids(...needles: string[]): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").join(" ");
      if (needles.every((n) => cmd.includes(n))) out.push(Number(d));
    } catch {}
  }
  return out;
}

const work = mkdtempSync(join(tmpdir(), "husk-bench-mem-"));
const root = join(work, "r");
const fc = factoryConfigs(work, values.config ? resolve(values.config) : undefined);
const started: { config: string; id: string }[] = [];
const tbMiB = loadConfig({ path: values.config }).hypervisor.tcg_cache_mib;
let raw: ReturnType<typeof Bun.spawn> | undefined;

interface Measure {
  n: number;
  /** qemuTcgCache is part of qemu: TCG's translation cache, which a KVM host does not have. */
  perSandboxMiB: { total: number; qemu: number; qemuTcgCache: number; monitor: number; shim: number; totalWithoutTcgCache: number };
  templateFileMiB?: number;
  bootModes: string[];
}

async function measure(label: string, config: string, n: number, bundle: string): Promise<Measure> {
  const ids = Array.from({ length: n }, (_, i) => `mem-${label}-${n}-${i}`);
  for (const id of ids) {
    // Detached: the shim keeps the fds it inherits, so give it none to hold open.
    const p = Bun.spawn([husk, "--config", config, "--root", root, "run", "-d", "--bundle", bundle, id], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    if ((await p.exited) !== 0) throw new Error(`husk run -d ${id} failed`);
    started.push({ config, id });
  }
  await sleep(Number(values.settle) * 1000);
  let qemu = 0;
  let tcg = 0;
  let monitor = 0;
  let shim = 0;
  const bootModes: string[] = [];
  for (const id of ids) {
    const dir = join(root, "sandboxes", id);
    const qemuPid = readPidFile(join(dir, QEMU_PID_FILE))?.pid;
    if (!qemuPid) throw new Error(`no qemu.pid for ${id}`);
    bootModes.push(JSON.parse(readFileSync(join(dir, "vm-state.json"), "utf8")).boot?.mode ?? "?");
    qemu += pssKiB(qemuPid);
    tcg += tcgCacheKiB(qemuPid, tbMiB);
    monitor += findPids(husk, "monitor", id).reduce((a, p) => a + pssKiB(p), 0);
    shim += pssKiB(JSON.parse(await huskOut([husk, "--config", config, "--root", root, "state", id])).pid);
  }
  let templateFileMiB: number | undefined;
  if (config === fc.warm) {
    const s = JSON.parse(await huskOut([husk, "--config", config, "factory", "status", "--factory-dir", fc.factoryDir]));
    templateFileMiB = MiB(s.templates.reduce((a: number, t: { memoryFileBytes?: number }) => a + (t.memoryFileBytes ?? 0), 0) / 1024);
  }
  const m: Measure = {
    n,
    perSandboxMiB: {
      total: MiB((qemu + monitor + shim) / n),
      qemu: MiB(qemu / n),
      qemuTcgCache: MiB(tcg / n),
      monitor: MiB(monitor / n),
      shim: MiB(shim / n),
      totalWithoutTcgCache: MiB((qemu - tcg + monitor + shim) / n),
    },
    ...(templateFileMiB !== undefined ? { templateFileMiB } : {}),
    bootModes: [...new Set(bootModes)],
  };
  note(`${label} N=${n}: ${JSON.stringify(m.perSandboxMiB)} MiB per sandbox (${m.bootModes.join(",")})`);
  for (const id of ids)
    await Bun.spawn([husk, "--config", config, "--root", root, "delete", "--force", id], { stdout: "ignore", stderr: "ignore" }).exited;
  return m;
}

try {
  const bundle = join(work, "bundle");
  const mk = Bun.spawnSync(["bash", join(import.meta.dir, "../scripts/make-bundle.sh"), bundle, "sleep", "3600"], { stderr: "inherit" });
  if (mk.exitCode !== 0) throw new Error("make-bundle failed");

  const cold: Measure[] = [];
  for (const n of counts) cold.push(await measure("cold", fc.cold, n, bundle));
  note(JSON.parse(await huskOut([husk, "--config", fc.warm, "factory", "init", "--factory-dir", fc.factoryDir])).status);
  const warm: Measure[] = [];
  for (const n of counts) warm.push(await measure("warm", fc.warm, n, bundle));

  // Raw QEMU, same kernel/initramfs, guest init runs an "agent" that sleeps.
  const config = loadConfig({ path: values.config });
  const bare = await bareImageBoot(config, work, "echo RAW-READY\nexec sleep 3600");
  const consoleFile = join(work, "raw-console.log");
  raw = Bun.spawn([config.hypervisor.path, ...bootArgs(bare, consoleFile, hostTscKhz())], { stdout: "ignore", stderr: "ignore" });
  const deadline = Date.now() + 120_000;
  while (!(await readFile(consoleFile, "utf8").catch(() => "")).includes("RAW-READY")) {
    if (Date.now() > deadline) throw new Error("raw VM did not come up");
    await sleep(200);
  }
  await sleep(Number(values.settle) * 1000);
  const rawMiB = MiB(pssKiB(raw.pid));
  note(`raw qemu: ${rawMiB} MiB PSS`);

  const at = (ms: Measure[], n: number) => ms.find((m) => m.n === n)?.perSandboxMiB.total;
  const nMax = Math.max(...counts);
  console.log(
    JSON.stringify({
      bench: "memory",
      what: "host PSS per idle husk sandbox (qemu+monitor+shim) at N side by side, templates off (cold) and on (clones), vs a raw QEMU of the same image",
      guestMemoryMiB: config.hypervisor.memory_mib,
      cold,
      warm,
      rawQemuMiB: rawMiB,
      ratio: {
        [`coldOverWarmAtN${nMax}`]: +((at(cold, nMax) ?? 0) / (at(warm, nMax) ?? 1)).toFixed(2),
        coldOverRawQemuAtN1: at(cold, 1) ? +(at(cold, 1)! / rawMiB).toFixed(2) : null,
        warmOverRawQemuAtN1: at(warm, 1) ? +(at(warm, 1)! / rawMiB).toFixed(2) : null,
      },
    }),
  );
} finally {
  raw?.kill("SIGKILL");
  for (const s of started) {
    await Bun.spawn([husk, "--config", s.config, "--root", root, "delete", "--force", s.id], { stdout: "ignore", stderr: "ignore" }).exited;
  }
  await Bun.spawn([husk, "--config", fc.warm, "factory", "destroy", "--factory-dir", fc.factoryDir], { stdout: "ignore", stderr: "ignore" })
    .exited;
  fc.cleanup();
  await rm(work, { recursive: true, force: true });
}
