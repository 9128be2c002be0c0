/**
 * Memory benchmark (not a test): the host memory one idle husk sandbox costs
 * (QEMU + monitor + shim, PSS from /proc/<pid>/smaps_rollup, so pages shared
 * between husk processes are split fairly), against a raw QEMU running the
 * same kernel + initramfs with a guest that only sleeps. Also reports the
 * guest's view (MemTotal/MemFree from the agent).
 *
 *   bun bench/memory.ts [--husk dist/husk] [--config FILE] [--settle 3]
 *
 * One JSON line on stdout; progress on stderr.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/load.ts";
import { QEMU_PID_FILE } from "../src/hypervisor/qemu/index.ts";
import { readPidFile } from "../src/hypervisor/qemu/pidfile.ts";
import { bareImageBoot, bootArgs, hostTscKhz } from "./lib/boot-vm.ts";

const { values } = parseArgs({
  options: {
    husk: { type: "string", default: join(import.meta.dir, "../dist/husk") },
    config: { type: "string" },
    settle: { type: "string", default: "3" },
  },
});
const husk = resolve(values.husk!);
const note = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pssKiB(pid: number): number {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const m = /^Pss:\s+(\d+) kB/m.exec(text);
  if (!m) throw new Error(`no Pss for ${pid}`);
  return Number(m[1]);
}

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
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

async function run(argv: string[]): Promise<string> {
  const p = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${err.trim().slice(-2000)}`);
  return out;
}

const work = await mkdtemp(join(tmpdir(), "husk-bench-mem-"));
const root = join(work, "r");
const configArgs = values.config ? ["--config", resolve(values.config)] : [];
const id = "benchmem";
let raw: ReturnType<typeof Bun.spawn> | undefined;
try {
  const bundle = join(work, "bundle");
  const mk = Bun.spawnSync(["bash", join(import.meta.dir, "../scripts/make-bundle.sh"), bundle, "sleep", "3600"], { stderr: "inherit" });
  if (mk.exitCode !== 0) throw new Error("make-bundle failed");
  // Detached: the shim keeps the fds it inherits, so give it none to hold open.
  const started = Bun.spawn([husk, ...configArgs, "--root", root, "run", "-d", "--bundle", bundle, id], { stdio: ["ignore", "ignore", "inherit"] });
  if ((await started.exited) !== 0) throw new Error("husk run -d failed");
  await sleep(Number(values.settle) * 1000);
  const sandboxDir = join(root, "sandboxes", id);
  const qemuPid = readPidFile(join(sandboxDir, QEMU_PID_FILE))?.pid;
  if (!qemuPid) throw new Error("no qemu.pid in the sandbox directory");
  const monitorPids = findPids(husk, "monitor", id).filter((p) => p !== qemuPid);
  const state = JSON.parse(await run([husk, ...configArgs, "--root", root, "state", id]));
  const shimPid: number = state.pid;
  const qemuPss = pssKiB(qemuPid);
  const monitorPss = monitorPids.reduce((a, p) => a + pssKiB(p), 0);
  const shimPss = pssKiB(shimPid);
  note(`husk sandbox: qemu ${qemuPss} KiB, monitor ${monitorPss} KiB (${monitorPids.length} proc), shim ${shimPss} KiB`);

  // Raw QEMU, same kernel/initramfs, guest init runs an "agent" that sleeps.
  const config = loadConfig({ path: values.config });
  const bare = await bareImageBoot(config, work, "echo RAW-READY\nexec sleep 3600");
  const consoleFile = join(work, "raw-console.log");
  const args = bootArgs(bare, consoleFile, hostTscKhz());
  raw = Bun.spawn([config.hypervisor.path, ...args], { stdout: "ignore", stderr: "ignore" });
  const deadline = Date.now() + 120_000;
  while (!(await readFile(consoleFile, "utf8").catch(() => "")).includes("RAW-READY")) {
    if (Date.now() > deadline) throw new Error("raw VM did not come up");
    await sleep(200);
  }
  await sleep(Number(values.settle) * 1000);
  const rawPss = pssKiB(raw.pid);
  const rawRss = rssKiB(raw.pid);
  note(`raw qemu: ${rawPss} KiB PSS`);

  const total = qemuPss + monitorPss + shimPss;
  console.log(
    JSON.stringify({
      bench: "memory",
      what: "host PSS of one idle husk sandbox (qemu+monitor+shim) vs a raw QEMU of the same image",
      guestMemoryMiB: config.hypervisor.memory_mib,
      huskKiB: { total, qemu: qemuPss, monitor: monitorPss, shim: shimPss },
      rawQemuKiB: { pss: rawPss, rss: rawRss },
      ratio: { huskOverRawQemu: +(total / rawPss).toFixed(2), qemuOverRawQemu: +(qemuPss / rawPss).toFixed(2) },
    }),
  );
} finally {
  raw?.kill("SIGKILL");
  await Bun.spawn([husk, ...configArgs, "--root", root, "delete", "--force", id], { stdout: "ignore", stderr: "ignore" }).exited;
  await rm(work, { recursive: true, force: true });
}
