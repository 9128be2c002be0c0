import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { logger } from "./log.ts";

/**
 * The container's cgroup on the host (`linux.cgroupsPath`), for accounting
 * only. The container's limits are enforced in the guest; what runs on the
 * host for it is its shim and, for a sandbox's first container, the VM
 * (QEMU and its monitor). Putting those there — with no limits written, so
 * a small memory limit can never OOM-kill QEMU — is what lets `podman
 * stats`/`top`, `ctr task metrics` and the kubelet see the sandbox's real
 * usage instead of the whole host's (Kata's sandbox_cgroup_only does the
 * same). Best effort: a failure is a warning, never a failed create.
 */

const log = logger("host-cgroup");

export interface CgroupMount {
  /** Where the hierarchy is mounted. */
  mountPoint: string;
  /** Root of the hierarchy as this process sees it (mountinfo field 4). */
  root: string;
  version: 1 | 2;
  /** v1 controllers (and name=...) of this hierarchy. */
  controllers: string[];
}

/** Cgroup hierarchies from /proc/self/mountinfo text. Pure. */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const f = left.split(" ");
    const [fstype, , superOpts = ""] = right.split(" ");
    const root = f[3];
    const mountPoint = f[4];
    if (!root || !mountPoint) continue;
    if (fstype === "cgroup2") out.push({ mountPoint, root, version: 2, controllers: [] });
    else if (fstype === "cgroup") {
      const controllers = superOpts
        .split(",")
        .filter(
          (o) => o !== "rw" && o !== "ro" && !o.startsWith("release_agent") && o !== "clone_children" && o !== "noprefix" && o !== "xattr",
        );
      out.push({ mountPoint, root, version: 1, controllers });
    }
  }
  return out;
}

/**
 * The relative path a spec's cgroupsPath names: "/a/b" is taken from the
 * hierarchy's root, "a/b" too (husk has no cgroup of its own to nest under),
 * and the systemd form "slice:prefix:name" becomes "slice/prefix-name.scope"
 * as runc's systemd driver names it. Undefined when the path is unusable.
 */
export function cgroupRelPath(cgroupsPath: string | undefined): string | undefined {
  if (!cgroupsPath) return undefined;
  let rel = cgroupsPath;
  const parts = cgroupsPath.split(":");
  if (parts.length === 3 && !cgroupsPath.startsWith("/")) {
    const [slice, prefix, name] = parts as [string, string, string];
    rel = `${slice || "system.slice"}/${prefix ? `${prefix}-` : ""}${name}.scope`;
  }
  const segs = rel.split("/").filter((s) => s !== "" && s !== ".");
  if (!segs.length || segs.some((s) => s === ".." || s.includes("\0"))) return undefined;
  return segs.join("/");
}

/**
 * One directory per hierarchy. A v1 cpuset cgroup starts with no CPUs or
 * memory nodes (a process cannot join until they are copied from the
 * parent), and limits are the guest's business: cpuset is left out.
 */
export function hostCgroupDirs(rel: string, mounts: readonly CgroupMount[]): { dir: string; mount: CgroupMount }[] {
  return mounts
    .filter((m) => m.version === 2 || !m.controllers.includes("cpuset"))
    .map((m) => ({ dir: join(m.mountPoint, rel), mount: m }));
}

function hostMounts(): CgroupMount[] {
  try {
    return parseCgroupMounts(readFileSync("/proc/self/mountinfo", "utf8"));
  } catch {
    return [];
  }
}

/** Put `pids` into the host cgroup the spec names (created if missing). */
export function placeInHostCgroup(cgroupsPath: string | undefined, pids: readonly number[]): void {
  const rel = cgroupRelPath(cgroupsPath);
  if (!rel || !pids.length) return;
  for (const { dir, mount } of hostCgroupDirs(rel, hostMounts())) {
    try {
      mkdirSync(dir, { recursive: true });
      // v1 leaves what a process already uses charged where it was: ask for
      // it to move along (the VM itself is placed before it boots anyway).
      if (mount.controllers.includes("memory")) {
        try {
          writeFileSync(join(dir, "memory.move_charge_at_immigrate"), "3\n");
        } catch {
          // not offered by this kernel: usage then counts from here on
        }
      }
      for (const pid of pids) writeFileSync(join(dir, "cgroup.procs"), `${pid}\n`);
    } catch (e) {
      log.warn(`cannot place ${pids.join(", ")} in cgroup ${dir}: ${(e as Error).message}`);
    }
  }
}

/**
 * Remove the spec's host cgroup: whatever still runs there (the VM of a pod
 * whose first container goes before the others) moves to the hierarchy's
 * root first, so the directory can always go. Parents (/libpod_parent,
 * /default) are shared and stay, as runc leaves them.
 */
export async function removeHostCgroup(cgroupsPath: string | undefined): Promise<void> {
  const rel = cgroupRelPath(cgroupsPath);
  if (!rel) return;
  for (const { dir, mount } of hostCgroupDirs(rel, hostMounts())) {
    for (let attempt = 0; ; attempt++) {
      try {
        for (const pid of readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) {
          try {
            writeFileSync(join(mount.mountPoint, "cgroup.procs"), `${pid}\n`);
          } catch {
            // gone meanwhile, or a zombie: rmdir below waits for it
          }
        }
        rmdirSync(dir);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT") break;
        if (code !== "EBUSY" || attempt >= 20) {
          log.warn(`cannot remove cgroup ${dir}: ${(e as Error).message}`);
          break;
        }
        await Bun.sleep(50); // an exiting shim not yet reaped keeps the cgroup busy
      }
    }
  }
}

/**
 * Move `pid` to the root of every hierarchy: a process started from inside a
 * sandbox's cgroup (a template builder spawned by a monitor) that must not
 * be charged to, or outlive, that sandbox's cgroup. Best effort.
 */
export function moveToHostRoot(pid: number): void {
  for (const m of hostMounts()) {
    try {
      writeFileSync(join(m.mountPoint, "cgroup.procs"), `${pid}\n`);
    } catch {
      // a hierarchy this process may not write: it stays there
    }
  }
}
