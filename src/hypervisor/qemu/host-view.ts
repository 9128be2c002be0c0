import { existsSync, lstatSync, mkdirSync, readlinkSync } from "node:fs";
import { HypervisorError } from "../../host/errors.ts";
import { isMountPoint } from "../../host/mounts.ts";
import { type Confinement, QEMU_CAPABILITIES, QEMU_RLIMITS, qemuUid } from "./args.ts";
import { JAIL_DEVICES, ROOT_ENTRIES, ROOT_FILES, type RootView } from "./jail.ts";
import { mountFs } from "../../host/ffi/process.ts";
import { resolveBinary } from "./probe.ts";

/** What the QEMU jail needs from the host: the jail's mount point, the sandbox share as a shared mount, the root view and the confinement this host allows. */

/** The empty directory QEMU's tmpfs root is mounted on, in its own mount namespace only. */
export const JAIL_DIR = "/run/husk-qemu-jail";

const MS_BIND = 0x1000;

const MS_SHARED = 0x100000;

/**
 * Make dir a mount point of its own with shared propagation (bind onto
 * itself), unless it is one already. True when the bind was made here.
 */
export function makeSharedMount(dir: string): boolean {
  try {
    const bind = !isMountPoint(dir);
    if (bind) mountFs(dir, dir, "", "", MS_BIND);
    mountFs("none", dir, "", "", MS_SHARED);
    return bind;
  } catch (err) {
    throw new HypervisorError(`cannot make ${dir} a shared mount for QEMU's mount namespace: ${(err as Error).message}`, { cause: err });
  }
}

/** What the host's root looks like, for the jail: which top-level entries are links or directories, which devices exist. */
export function probeRootView(sh: string): RootView {
  const links: RootView["links"] = [];
  const dirs: string[] = [];
  for (const p of ROOT_ENTRIES) {
    try {
      const st = lstatSync(p);
      if (st.isSymbolicLink()) links.push({ path: p, target: readlinkSync(p) });
      else if (st.isDirectory()) dirs.push(p);
    } catch {
      /* absent */
    }
  }
  try {
    mkdirSync(JAIL_DIR, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new HypervisorError(`cannot make ${JAIL_DIR} (the mount point of QEMU's root in its own namespace): ${(err as Error).message}`, {
      cause: err,
    });
  }
  return {
    sh,
    jailDir: JAIL_DIR,
    links,
    dirs,
    files: ROOT_FILES.filter((f) => existsSync(f)),
    devices: JAIL_DEVICES.filter((d) => existsSync(d)),
  };
}

/**
 * The confinement wrapper's programs (util-linux), or E_HYPERVISOR naming the
 * missing one: QEMU never starts unconfined by accident. QEMU's uid comes from
 * the pid of this process, its owner (qemuUid).
 */
export function resolveConfinement(path?: string, euid = process.geteuid?.() ?? 0): Confinement {
  const found = (name: string) => {
    const bin = resolveBinary(name, path);
    if (!bin)
      throw new HypervisorError(`${name} not found on PATH (install util-linux): husk confines QEMU with it`, {
        details: { binary: name },
      });
    return bin;
  };
  const tools = { unshare: found("unshare"), prlimit: found("prlimit"), setpriv: found("setpriv") };
  // Not root (a test setup): nothing to drop, no uid to change to; the rest still applies.
  if (euid !== 0) return { ...tools, capabilities: [], ...QEMU_RLIMITS, unprivileged: true };
  return { ...tools, capabilities: QEMU_CAPABILITIES, ...QEMU_RLIMITS, uid: qemuUid(process.pid), root: probeRootView(found("sh")) };
}
