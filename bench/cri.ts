/**
 * CRI benchmark (not a test): the kubelet's path to a running pod through a
 * private containerd, for husk's shim v2 (`husk`), containerd's runc shim
 * running husk (`husk-runc`) and runc itself (`runc`), in one run:
 *  - startMs: RunPodSandbox → CreateContainer → StartContainer, until the
 *    container is started (median/min/max of --runs);
 *  - pssMiB: host PSS of one idle pod, from /proc/<pid>/smaps_rollup of the
 *    shim processes containerd started for it and all their descendants
 *    (shim servers, husk shims, monitor, QEMU; for runc the containers).
 * VM templates as the config says (the default: on; the first pod of a
 * shape makes the template, so a warm-up pod runs first).
 *
 *   bun bench/cri.ts [--husk dist/husk] [--runs 3] [--settle 3]
 *
 * Needs root, containerd, ctr, runc, unshare, the guest image. One JSON line
 * on stdout; progress on stderr.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { C } from "../test/e2e/cri/client.ts";
import { IMAGE, startContainerd, type Containerd } from "../test/e2e/cri/containerd.ts";
import { ensureTemplate, makeEnv } from "../test/e2e/env.ts";

const { values } = parseArgs({
  options: {
    husk: { type: "string", default: join(import.meta.dir, "../dist/husk") },
    runs: { type: "string", default: "3" },
    settle: { type: "string", default: "3" },
  },
});
const husk = resolve(values.husk!);
const runs = Number(values.runs);
const settleMs = Number(values.settle) * 1000;
const note = (s: string) => process.stderr.write(`${s}\n`);
const HANDLERS = ["husk", "husk-runc", "runc"] as const;

function pssKiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0; // gone
  }
}

/** pid → parent pid, for every process. */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const p of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      out.set(Number(p), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone
    }
  }
  return out;
}

/** The shims containerd started (their command lines name its socket) and all their descendants. */
function podProcesses(dir: string): number[] {
  const roots = readdirSync("/proc")
    .filter((x) => /^\d+$/.test(x))
    .map(Number)
    .filter((pid) => {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
        return cmd.includes(`${dir}/c.sock`) && (cmd.includes("containerd-shim-runc-v2") || cmd.includes("shim-v2"));
      } catch {
        return false;
      }
    });
  const ppid = parents();
  const all = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, parent] of ppid) {
      if (!all.has(pid) && all.has(parent)) {
        all.add(pid);
        grew = true;
      }
    }
  }
  return [...all];
}

async function onePod(cd: Containerd, handler: string, n: number, measure: boolean): Promise<{ startMs: number; pssMiB?: number }> {
  const cri = cd.cri;
  const linux = { securityContext: { namespaceOptions: { network: C.NamespaceMode.NODE, pid: C.NamespaceMode.CONTAINER } } };
  const sandboxConfig = {
    metadata: { name: `bench-${handler}-${n}`, uid: `uid-${handler}-${n}`, namespace: "bench" },
    logDirectory: join(cd.dir, "logs"),
    linux,
  };
  const t0 = performance.now();
  const { podSandboxId } = await cri.runPodSandbox(sandboxConfig, handler);
  const { containerId } = await cri.createContainer(
    podSandboxId,
    { metadata: { name: "idle" }, image: { image: IMAGE }, command: ["sleep", "2147483647"], linux },
    sandboxConfig,
  );
  await cri.startContainer(containerId);
  const startMs = Math.round(performance.now() - t0);
  let pssMiB: number | undefined;
  if (measure) {
    await Bun.sleep(settleMs);
    pssMiB = +(podProcesses(cd.dir).reduce((sum, pid) => sum + pssKiB(pid), 0) / 1024).toFixed(1);
  }
  await cri.stopContainer(containerId, 0);
  await cri.removeContainer(containerId);
  await cri.stopPodSandbox(podSandboxId);
  await cri.removePodSandbox(podSandboxId);
  return { startMs, ...(pssMiB !== undefined ? { pssMiB } : {}) };
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]! };
};

const env = makeEnv("bench-cri");
const dir = mkdtempSync(join(tmpdir(), "husk-bench-cri-"));
let cd: Containerd | undefined;
try {
  ensureTemplate(env);
  cd = await startContainerd({ dir, husk, huskConfig: env.config, huskRoot: env.root });
  const result: Record<string, { startMs: ReturnType<typeof stats>; pssMiB: number } | { error: string }> = {};
  for (const handler of HANDLERS) {
    try {
      note(`${handler}: warm-up pod`);
      await onePod(cd, handler, 0, false);
      const times: number[] = [];
      let pss = 0;
      for (let i = 1; i <= runs; i++) {
        const r = await onePod(cd, handler, i, i === 1);
        note(`${handler} #${i}: started in ${r.startMs} ms${r.pssMiB !== undefined ? `, ${r.pssMiB} MiB PSS` : ""}`);
        times.push(r.startMs);
        if (r.pssMiB !== undefined) pss = r.pssMiB;
      }
      result[handler] = { startMs: stats(times), pssMiB: pss };
    } catch (e) {
      // Reported, not hidden: e.g. runc 1.1.5 fails CRI's sandbox on this host's kernel.
      note(`${handler}: ${(e as Error).message}`);
      result[handler] = { error: (e as Error).message.slice(0, 300) };
    }
  }
  console.log(JSON.stringify({ bench: "cri", runs, settleS: settleMs / 1000, handlers: result }));
} finally {
  cd?.cri.close();
  await cd?.stop();
  await env.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
