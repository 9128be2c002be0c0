/**
 * Soak benchmark (not a test): N sequential `husk run` lifecycles (default
 * 200) of a busybox container, reporting in one JSON line what the host
 * holds at the start, in the middle and at the end — open fds (system-wide,
 * /proc/sys/fs/file-nr), mounts, tap devices, host cgroups, files under
 * the root, husk/QEMU processes, the factory's files — and the RSS of a
 * long-lived sandbox's monitor and shim sampled along the way: all should be
 * flat. Templates on (the default path).
 *
 *   bun bench/soak.ts [--runs 200] [--husk dist/husk] [--config FILE]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/load.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "200" },
    husk: { type: "string", default: join(import.meta.dir, "../dist/husk") },
    config: { type: "string" },
  },
});
const runs = Number(values.runs);
const husk = resolve(values.husk!);
const cfg = values.config ? ["--config", resolve(values.config)] : [];
const note = (s: string) => process.stderr.write(`${s}\n`);

function countFiles(dir: string): number {
  let n = 0;
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? 1 + countFiles(join(dir, e.name)) : 1;
  } catch {}
  return n;
}

function processes(needle: string): number {
  let n = 0;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, "utf8").includes(needle)) n++;
    } catch {}
  }
  return n;
}

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}

const work = mkdtempSync(join(tmpdir(), "husk-soak-"));
const root = join(work, "r");
const factoryDir = loadConfig({ path: values.config }).factory.dir;

function snapshot(): Record<string, number> {
  const mountinfo = readFileSync("/proc/self/mountinfo", "utf8");
  return {
    openFds: Number(readFileSync("/proc/sys/fs/file-nr", "utf8").split(/\s+/)[0]),
    mounts: mountinfo.split("\n").length,
    mountsUnderRoot: mountinfo.split("\n").filter((l) => l.includes(root)).length,
    taps: readdirSync("/sys/class/net").filter((n) => n.startsWith("hk")).length,
    // num_cgroups of the memory controller (/proc/cgroups): the host cgroups that exist.
    cgroups: Number(/^memory\s+\d+\s+(\d+)/m.exec(readFileSync("/proc/cgroups", "utf8"))?.[1] ?? -1),
    filesUnderRoot: countFiles(root),
    factoryFiles: countFiles(factoryDir),
    qemuProcesses: processes("qemu-system"),
    processesUnderRoot: processes(root),
  };
}

async function sh(argv: string[]): Promise<string> {
  const p = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${err.slice(-1000)}`);
  return out;
}

try {
  const bundle = join(work, "bundle");
  await sh(["bash", join(import.meta.dir, "../scripts/make-bundle.sh"), bundle, "sh", "-c", "echo soak"]);
  const sleeper = join(work, "sleeper");
  await sh(["bash", join(import.meta.dir, "../scripts/make-bundle.sh"), sleeper, "sleep", "100000"]);
  // A long-lived sandbox beside the churn: its monitor and shim must not grow.
  const p = Bun.spawn([husk, ...cfg, "--root", root, "run", "-d", "--bundle", sleeper, "soak-long"], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  if ((await p.exited) !== 0) throw new Error("husk run -d failed");
  const monitorPid = JSON.parse(readFileSync(join(root, "sandboxes", "soak-long", "monitor.pid"), "utf8")).pid as number;
  const shimPid = JSON.parse(await sh([husk, ...cfg, "--root", root, "state", "soak-long"])).pid as number;
  const rss = { monitorKiB: [] as number[], shimKiB: [] as number[] };
  const sample = () => {
    rss.monitorKiB.push(rssKiB(monitorPid));
    rss.shimKiB.push(rssKiB(shimPid));
  };

  const start = snapshot();
  sample();
  let middle: Record<string, number> = {};
  const t0 = performance.now();
  let failures = 0;
  for (let i = 0; i < runs; i++) {
    const out = await sh([husk, ...cfg, "--root", root, "run", "--bundle", bundle, `soak-${i}`]).catch((e: Error) => {
      failures++;
      note(`run ${i}: ${e.message}`);
      return "";
    });
    if (out && !out.includes("soak")) failures++;
    if (i % 20 === 19) {
      sample();
      note(`${i + 1}/${runs} runs, ${Math.round((performance.now() - t0) / (i + 1))} ms each`);
    }
    if (i === Math.floor(runs / 2)) middle = snapshot();
  }
  const end = snapshot();
  sample();
  console.log(
    JSON.stringify({
      bench: "soak",
      what: `${runs} sequential husk run lifecycles beside one long-lived sandbox: host resources at start, middle and end`,
      runs,
      failures,
      msPerRun: Math.round((performance.now() - t0) / runs),
      start,
      middle,
      end,
      longLivedRss: {
        monitorKiB: { first: rss.monitorKiB[0], last: rss.monitorKiB.at(-1), max: Math.max(...rss.monitorKiB) },
        shimKiB: { first: rss.shimKiB[0], last: rss.shimKiB.at(-1), max: Math.max(...rss.shimKiB) },
      },
    }),
  );
} finally {
  await Bun.spawn([husk, ...cfg, "--root", root, "delete", "--force", "soak-long"], { stdout: "ignore", stderr: "ignore" }).exited;
  rmSync(work, { recursive: true, force: true });
}
