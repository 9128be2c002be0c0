import { dirname } from "node:path";
import { HypervisorError } from "../../host/errors.ts";
import type { VmSpec } from "../types.ts";

/**
 * QEMU's own mount namespace (docs/security.md): a tmpfs root that holds
 * only what QEMU needs — /usr and the library links read-only, the kernel,
 * initramfs, disk image and agent directory read-only, its sandbox directory
 * and share and its template directory read-write, a few device nodes — then
 * pivot_root into it. Pure: the argv; `view` carries the host facts (which
 * of /bin, /lib… are links, which devices exist), probed elsewhere.
 *
 * The share is bound recursively and stays a mount slave of the host's: a
 * container rootfs bind-mounted into it later (a pod's next container)
 * appears in QEMU's view too. For that the host side must be a shared mount
 * (the driver makes it one before starting QEMU: sharedMountPoint).
 */

/** What the host's root looks like, for the jail (probed once). */
export interface RootView {
  /** The sh that runs the set-up script. */
  sh: string;
  /** An empty directory the tmpfs root is mounted on (in QEMU's namespace only). */
  jailDir: string;
  /** Top-level links to recreate (merged /usr: /bin → usr/bin, /lib64 → usr/lib64…). */
  links: { path: string; target: string }[];
  /** Top-level directories to bind read-only (/usr, and /bin, /lib… where they are not links). */
  dirs: string[];
  /** Files to bind read-only (the dynamic loader's cache). */
  files: string[];
  /** Device nodes that exist on this host and QEMU may open. */
  devices: string[];
}

/** Top-level paths QEMU's binary and libraries may need. */
export const ROOT_ENTRIES = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
export const ROOT_FILES = ["/etc/ld.so.cache"];
/** Device nodes QEMU may open: the rest of /dev stays out of sight. */
export const JAIL_DEVICES = [
  "/dev/null",
  "/dev/zero",
  "/dev/full",
  "/dev/random",
  "/dev/urandom",
  "/dev/kvm",
  "/dev/net/tun",
  "/dev/vhost-net",
  "/dev/vhost-vsock",
];

/**
 * The set-up script, run by sh in the new mount namespace; every path is an
 * argument, never part of the script. Ops, in pairs: `ro P` (bind, read-only),
 * `rw P` (bind), `rec P` (recursive bind, read-write: the share), `dev P`
 * (device node), `link P T` (a symlink to T). Then `--` and the command.
 */
export const JAIL_SCRIPT = [
  "set -eu",
  "R=$1; shift",
  'mount -t tmpfs -o mode=0755,nosuid,size=1m husk-qemu "$R"',
  'mk() { if [ -d "$1" ]; then mkdir -p "$R$1"; else mkdir -p "$R${1%/*}"; : > "$R$1"; fi; }',
  'while [ "$1" != -- ]; do',
  "  case $1 in",
  '    link) mkdir -p "$R${2%/*}"; ln -s "$3" "$R$2"; shift 3; continue ;;',
  '    ro) mk "$2"; mount --bind "$2" "$R$2"; mount -o remount,bind,ro,nosuid,nodev "$R$2" ;;',
  '    rw) mk "$2"; mount --bind "$2" "$R$2"; mount -o remount,bind,nosuid,nodev "$R$2" ;;',
  '    rec) mk "$2"; mount --rbind "$2" "$R$2" ;;',
  '    dev) mk "$2"; mount --bind "$2" "$R$2" ;;',
  '    *) echo "jail: unknown op $1" >&2; exit 1 ;;',
  "  esac",
  "  shift 2",
  "done",
  "shift",
  // QEMU's 9p server chmods through /proc/self/fd/N (and umount(8) reads /proc/self/mountinfo):
  // a proc of its own, read-only (no sysrq-trigger, no sysctl writes), showing only its own processes.
  'mkdir "$R/proc"',
  'mount -t proc -o ro,nosuid,nodev,noexec,hidepid=invisible proc "$R/proc"',
  'mount -o remount,ro,nosuid "$R"',
  'cd "$R"',
  "pivot_root . .",
  "umount -l .",
  "cd /",
  "unset PWD OLDPWD",
  'exec "$@"',
].join("\n");

/** Paths the jail gives one VM, from its spec. */
export function jailPaths(spec: VmSpec, binary: string): { ro: string[]; rw: string[]; rec: string[] } {
  const ro = [
    spec.kernel,
    ...(spec.initrd ? [spec.initrd] : []),
    ...(spec.image ? [spec.image] : []),
    ...(spec.agentDir ? [spec.agentDir] : []),
  ];
  if (!binary.startsWith("/usr/")) ro.push(dirname(binary));
  const rw = [spec.dir];
  if (spec.template && spec.template.dir !== spec.dir) rw.push(spec.template.dir);
  // Sockets too long for the sandbox dir live in a directory of its own (src/sockets.ts).
  for (const sock of [spec.qmpSocket, spec.agentSocket]) {
    if (!sock) continue; // husk check's probe has no sockets
    const d = dirname(sock);
    if (d !== spec.dir && !d.startsWith(`${spec.dir}/`) && !rw.includes(d)) rw.push(d);
  }
  return { ro, rw, rec: [spec.sharedDir] };
}

/**
 * argv prefix: `unshare --mount --propagation slave [--net] -- sh -c SCRIPT
 * husk-qemu-jail JAILDIR ops… --`, followed by the rest of the launch chain.
 * sh and every tool exec: the pid stays QEMU's.
 */
export function buildJailPrefix(
  unshare: string,
  view: RootView,
  paths: { ro: string[]; rw: string[]; rec: string[] },
  newNet: boolean,
): string[] {
  const all = [
    view.jailDir,
    ...view.dirs,
    ...view.files,
    ...view.devices,
    ...view.links.map((l) => l.path),
    ...paths.ro,
    ...paths.rw,
    ...paths.rec,
  ];
  for (const p of all) {
    if (!p.startsWith("/") || p.includes("\0") || p.split("/").includes("..") || p === "--" || p.length > 4096) {
      throw new HypervisorError(`jail path ${JSON.stringify(p.slice(0, 200))} must be absolute, without .. or NUL`);
    }
  }
  for (const l of view.links)
    if (l.target.includes("\0") || l.target === "--") throw new HypervisorError(`jail link target ${JSON.stringify(l.target)} is invalid`);
  const ops: string[] = [];
  for (const l of view.links) ops.push("link", l.path, l.target);
  // Parents before children: a bind made later on a parent would hide one made earlier inside it.
  const binds = [
    ...view.dirs.map((p) => ["ro", p]),
    ...view.files.map((p) => ["ro", p]),
    ...view.devices.map((p) => ["dev", p]),
    ...paths.ro.map((p) => ["ro", p]),
    ...paths.rw.map((p) => ["rw", p]),
    ...paths.rec.map((p) => ["rec", p]),
  ].map(([op, p], i) => ({ op: op!, p: p!.replace(/\/+$/, "") || "/", i }));
  const depth = (p: string) => p.split("/").filter(Boolean).length;
  binds.sort((a, b) => depth(a.p) - depth(b.p) || a.i - b.i);
  for (const { op, p } of binds) ops.push(op, p);
  return [
    unshare,
    "--mount",
    "--propagation",
    "slave",
    ...(newNet ? ["--net"] : []),
    "--",
    view.sh,
    "-c",
    JAIL_SCRIPT,
    "husk-qemu-jail",
    view.jailDir,
    ...ops,
    "--",
  ];
}
