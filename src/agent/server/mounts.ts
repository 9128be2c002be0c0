import { mkdirSync, readFileSync } from "node:fs";
import { logger } from "../../host/log.ts";
import { trackSpawn } from "./orphans.ts";

const log = logger("agent-mounts");

export interface MountSpec {
  source: string;
  target: string;
  type: string;
  options?: string;
  /** Kernel modules that provide this filesystem, tried when the mount fails. */
  modules?: string[];
}

/** The sandbox's 9p share (container rootfs and bind mounts), mounted at sharedDir. */
export function sharedMount(sharedDir: string): MountSpec {
  return {
    source: "husk-shared",
    target: sharedDir,
    type: "9p",
    options: "trans=virtio,version=9p2000.L,cache=mmap,msize=262144",
    modules: ["virtio_ring", "virtio", "virtio_pci", "9pnet", "9pnet_virtio", "netfs", "fscache", "9p"],
  };
}

/**
 * What the agent needs mounted in the guest; the init normally did it
 * already. A template VM (src/factory/) defers the share to cloneInit.
 */
export function guestMounts(sharedDir: string, options: { deferShared?: boolean } = {}): MountSpec[] {
  const base: MountSpec[] = [
    { source: "proc", target: "/proc", type: "proc" },
    { source: "sysfs", target: "/sys", type: "sysfs" },
    { source: "devtmpfs", target: "/dev", type: "devtmpfs" },
    { source: "devpts", target: "/dev/pts", type: "devpts", options: "newinstance,ptmxmode=0666,mode=0620" },
    { source: "shm", target: "/dev/shm", type: "tmpfs", options: "mode=1777" },
    { source: "cgroup2", target: "/sys/fs/cgroup", type: "cgroup2", options: "nsdelegate" },
  ];
  return options.deferShared ? base : [...base, sharedMount(sharedDir)];
}

/** Mount points from /proc/self/mountinfo (field 5), unescaped. */
export function parseMountPoints(mountinfo: string): Set<string> {
  const out = new Set<string>();
  for (const line of mountinfo.split("\n")) {
    const target = line.split(" ")[4];
    if (target) out.add(target.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

async function run(argv: string[]): Promise<{ ok: boolean; stderr: string }> {
  const p = trackSpawn(Bun.spawn(argv, { stdin: "ignore", stdout: "ignore", stderr: "pipe" }));
  const stderr = await new Response(p.stderr).text();
  return { ok: (await p.exited) === 0, stderr: stderr.trim() };
}

/** Mount whatever is missing; failures are logged, not fatal (the host sees errors per method). */
export async function ensureGuestMounts(specs: MountSpec[]): Promise<void> {
  let mounted = new Set<string>();
  const refresh = () => {
    try {
      mounted = parseMountPoints(readFileSync("/proc/self/mountinfo", "utf8"));
    } catch {
      mounted = new Set();
    }
  };
  refresh();
  for (const m of specs) {
    if (mounted.has(m.target)) continue;
    mkdirSync(m.target, { recursive: true });
    const argv = ["mount", "-t", m.type, ...(m.options ? ["-o", m.options] : []), m.source, m.target];
    let r = await run(argv);
    if (!r.ok && m.modules) {
      for (const mod of m.modules) await run(["modprobe", mod]);
      r = await run(argv);
    }
    if (r.ok) log.debug(`mounted ${m.type} on ${m.target}`);
    else log.warn(`cannot mount ${m.type} on ${m.target}: ${r.stderr}`);
    refresh();
  }
}
