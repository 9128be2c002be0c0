import { HypervisorError } from "../../host/errors.ts";
import { MAC, TAP_NAME } from "../spec.ts";
import type { VmSpec } from "../types.ts";
import { detectAccelerator, type HostFacts } from "./host.ts";
import { buildJailPrefix, jailPaths, type RootView } from "./jail.ts";

/**
 * The QEMU command line, built by pure functions (no I/O): everything here is
 * unit-tested without QEMU. Only ./process.ts runs the result.
 */

export const SHARED_TAG = "husk-shared";
export const AGENT_TAG = "husk-agent";
export const AGENT_PORT_NAME = "agent.channel.0";
/** Agent port on vsock (guest side), when that transport is used. */
export const AGENT_VSOCK_PORT = 1024;

/**
 * QEMU's own seccomp filter (`-sandbox`): on, and every optional group
 * denied — obsolete system calls, set*uid/set*gid and friends, fork/vfork/
 * execve (a compromised QEMU cannot start a program), and scheduler/affinity
 * changes. QEMU installs it before the guest runs a single instruction.
 */
export const QEMU_SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";

/**
 * The capabilities QEMU keeps (bounding = permitted = effective = ambient;
 * all others dropped before exec). Measured on containers that write, chown,
 * chmod and mknod in their rootfs over the 9p share (security_model=none),
 * docs/security.md:
 *  - chown: files the guest creates get the guest's uid/gid, and guest chown works;
 *  - dac_override: the guest writes files it may write but QEMU does not own (0444, other uids);
 *  - fowner: chmod, utimes, sticky-dir unlinks and hard links on files of other uids;
 *  - fsetid: set-gid bits survive chmod, set-uid bits survive writes.
 * Not kept: mknod (a guest that could create a block device node on the share
 * could open the host's disk through QEMU), net_admin (the network plugin's
 * taps are persistent and have no owner: anyone may attach), sys_admin,
 * setuid/setgid, setfcap, kill, sys_ptrace, and the rest.
 */
export const QEMU_CAPABILITIES = ["chown", "dac_override", "fowner", "fsetid"] as const;

/**
 * Resource bounds for QEMU. nofile: the 9p server reclaims host fds above
 * (limit − 400), so this bounds what a guest can pin open. nproc: QEMU is
 * threads only (spawn=deny stops fork), counted per uid: each QEMU has its
 * own (qemuUid).
 */
export const QEMU_RLIMITS = { nofile: 4096, nproc: 512 } as const;

/**
 * QEMU runs as a uid (and gid) of its own, not 0: QEMU_UID_BASE + the pid of
 * the process that owns it (the sandbox's monitor, or a template builder),
 * unique while that owner lives, which is as long as QEMU does. Keeping the
 * four capabilities as ambient ones, it still serves the 9p share as root
 * would; but two QEMUs no longer share a uid, so one cannot ptrace, read
 * /proc/<pid>/mem of, or signal another (or any uid-0 process).
 */
export const QEMU_UID_BASE = 1_500_000_000;
/** Linux's pid_max ceiling (2^22). */
const PID_MAX = 4_194_304;

export function qemuUid(ownerPid: number): number {
  if (!Number.isInteger(ownerPid) || ownerPid < 1 || ownerPid > PID_MAX) throw new HypervisorError(`invalid owner pid ${ownerPid}`);
  return QEMU_UID_BASE + ownerPid;
}

/** QEMU's whole environment (and its wrappers'): nothing of the caller's reaches it. */
export const QEMU_ENV: Readonly<Record<string, string>> = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };

/** How QEMU is confined at launch: util-linux's unshare, prlimit and setpriv, resolved to paths. */
export interface Confinement {
  /** A VM without NICs gets an empty network namespace of its own (only lo): no host sockets but unix paths. */
  unshare: string;
  prlimit: string;
  setpriv: string;
  capabilities: readonly string[];
  nofile: number;
  nproc: number;
  /** QEMU's uid and gid (qemuUid); absent: it keeps the caller's. */
  uid?: number;
  /**
   * The caller is not root (a test setup): it has no capabilities to hand
   * down, cannot change uid, cut the bounding set or make a namespace; QEMU
   * still gets the seccomp filter, no_new_privs, the limits and an empty
   * environment.
   */
  unprivileged?: boolean;
  /** The host's root as the jail needs it (./jail.ts); absent: QEMU stays in the host's mount namespace. */
  root?: RootView;
}

const CAP_NAME = /^[a-z_]{2,32}$/;

/**
 * The wrapper that confines QEMU, each program exec'ing the next (the pid
 * stays QEMU's): prlimit lowers the limits (hard = soft: QEMU cannot raise
 * them), then setpriv sets no_new_privs, switches to QEMU's own uid and gid
 * with no supplementary groups, keeps `capabilities` as inheritable and
 * ambient ones (how a non-root program keeps capabilities across exec), cuts
 * the bounding set to them. Without a uid (uid 0), the bounding set alone is
 * what QEMU holds after exec. (No --reset-env: setpriv 2.38 crashes looking up
 * a uid that is not in /etc/passwd when the jail has no /etc/passwd; the
 * environment is cleared at spawn instead, QEMU_ENV.)
 */
export function buildConfinementPrefix(c: Confinement): string[] {
  for (const cap of c.capabilities) {
    if (!CAP_NAME.test(cap)) throw new HypervisorError(`invalid capability name ${JSON.stringify(cap)}`);
  }
  for (const [name, n] of [
    ["nofile", c.nofile],
    ["nproc", c.nproc],
  ] as const) {
    if (!Number.isInteger(n) || n < 64) throw new HypervisorError(`invalid qemu ${name} limit ${n}: must be an integer ≥ 64`);
  }
  const keep = ["-all", ...c.capabilities.map((cap) => `+${cap}`)].join(",");
  if (c.uid !== undefined && (!Number.isInteger(c.uid) || c.uid < 1 || c.uid > 0xffff_fffe))
    throw new HypervisorError(`invalid qemu uid ${c.uid}`);
  const limits = [c.prlimit, `--nofile=${c.nofile}:${c.nofile}`, `--nproc=${c.nproc}:${c.nproc}`, "--"];
  if (c.unprivileged) return [...limits, c.setpriv, "--no-new-privs", "--"];
  const user = c.uid === undefined ? [] : [`--reuid=${c.uid}`, `--regid=${c.uid}`, "--clear-groups"];
  const inherit = c.uid === undefined ? "-all" : keep;
  return [
    ...limits,
    c.setpriv,
    "--no-new-privs",
    ...user,
    `--inh-caps=${inherit}`,
    `--ambient-caps=${inherit}`,
    `--bounding-set=${keep}`,
    "--",
  ];
}

/**
 * argv that starts QEMU: through `nsenter --net=NETNS --` when the VM has
 * NICs, so that QEMU opens its taps in the container's network namespace;
 * confined, a VM without NICs gets a new, empty one (`unshare --net`), and,
 * given the host's root view and a whole spec, a mount namespace of its own
 * (./jail.ts) — all need CAP_SYS_ADMIN, so they come before the
 * capabilities are dropped — then the confinement wrapper. Every wrapper
 * execs the next program: the pid is QEMU's.
 */
export function buildLaunchCommand(
  binary: string,
  args: string[],
  spec: Pick<VmSpec, "network" | "template"> & Partial<VmSpec>,
  nsenter = "nsenter",
  confinement?: Confinement,
): string[] {
  const qemu = [...(confinement ? buildConfinementPrefix(confinement) : []), binary, ...args];
  // A template's NICs have no backend: nothing to open in a netns.
  const joinNetns = !!spec.network?.nics.length && spec.template?.mode !== "save";
  let inner = qemu;
  if (confinement && !confinement.unprivileged) {
    if (confinement.root && spec.dir && spec.sharedDir && spec.kernel) {
      inner = [...buildJailPrefix(confinement.unshare, confinement.root, jailPaths(spec as VmSpec, binary), !joinNetns), ...qemu];
    } else if (!joinNetns) {
      inner = [confinement.unshare, "--net", "--", ...qemu];
    }
  }
  return joinNetns ? [nsenter, `--net=${spec.network!.netns}`, "--", ...inner] : inner;
}

export interface QemuArgsOptions {
  /** Agent channel: virtio-serial (default) or vhost-vsock with this guest CID. */
  vsockCid?: number;
  /** QEMU's seccomp filter (`-sandbox QEMU_SANDBOX`); on unless false. */
  seccomp?: boolean;
}

/**
 * The MAC a template's NIC n is saved with (locally administered). Every
 * clone starts with it; the network plugin sets the interface's own MAC in
 * the guest (updateInterfaces) before the NIC carries traffic.
 */
export function templateMac(index: number): string {
  return `02:68:75:73:6b:${index.toString(16).padStart(2, "0")}`;
}

/** Machine families: microvm has no PCI, its virtio devices are virtio-mmio ("-device" suffix). */
export function isMicrovm(machine: string): boolean {
  return machine === "microvm" || machine.startsWith("microvm,");
}

/** QEMU option values use "," as separator; a literal comma is written ",,". */
export function escapeOptionValue(value: string): string {
  return value.replaceAll(",", ",,");
}

/**
 * Kernel command line: the driver's own needs first (console on the serial
 * port it logs, panic=-1 so a guest panic ends QEMU through -no-reboot instead
 * of hanging until the boot timeout, the host TSC rate under TCG because
 * microvm has no HPET/PMTIMER to calibrate against), then the spec's params
 * (image + config). A key the spec already sets wins over the driver default.
 */
export function buildKernelCmdline(spec: VmSpec, host: HostFacts, accelerator: "kvm" | "tcg"): string {
  const given = new Set(spec.kernelParams.map((p) => p.split("=")[0]));
  const defaults: string[] = ["console=ttyS0", "panic=-1"];
  if (accelerator === "tcg" && host.tscKhz !== undefined) defaults.push(`tsc_early_khz=${host.tscKhz}`);
  // Under TCG, Bun's JIT tiers cost more to emulate than they save for the
  // short-lived, I/O-bound agent (measured: guest start 2.45 s → 1.66 s); the
  // guest init turns the JIT off when it sees this.
  if (accelerator === "tcg") defaults.push("husk.jit=off");
  // acpi=off without reboot=t costs ~3 s at power-off (measured): the kernel tries ACPI reset first.
  if (spec.kernelParams.includes("acpi=off")) defaults.push("reboot=t");
  const params = [...defaults.filter((p) => !given.has(p.split("=")[0])), ...spec.kernelParams];
  for (const p of params) {
    if (/[\n\0]/.test(p)) throw new HypervisorError(`kernel parameter ${JSON.stringify(p)} contains a newline or NUL`);
  }
  return params.join(" ");
}

/** -machine value for the spec's machine type. */
export function buildMachine(spec: VmSpec): string {
  if (isMicrovm(spec.machine)) {
    // No option ROMs (qboot loads the kernel directly), the ISA serial for the
    // console, and the RTC on: rtc=off costs ~2 s of boot (measured). ACPI
    // follows the kernel: with acpi=off in the params, skip building tables.
    const acpi = spec.kernelParams.includes("acpi=off") ? ",acpi=off" : "";
    const extra = spec.machine.slice("microvm".length);
    return `microvm,x-option-roms=off,isa-serial=on,rtc=on${acpi}${extra}${memoryBackend(spec)}`;
  }
  if (spec.machine === "q35") return `q35,vmport=off,sata=off,smbus=off${memoryBackend(spec)}`;
  if (spec.machine === "pc") return `pc,vmport=off${memoryBackend(spec)}`;
  return spec.machine + memoryBackend(spec);
}

function memoryBackend(spec: VmSpec): string {
  return spec.template ? ",memory-backend=mem" : "";
}

/** The second QMP socket of a template or clone: the one a state file's fd is handed over (qmp-fd.ts). */
export function qmpFdSocket(spec: Pick<VmSpec, "qmpSocket">): string {
  return spec.qmpSocket.replace(/qmp\.sock$/, "qmp-fd.sock");
}

/**
 * Template or clone: guest RAM in the template's file (shared while the
 * template is made; private, copy-on-write, in a clone), and a clone waits
 * paused for its device state (-incoming defer, then migrate-incoming).
 */
function templateArgs(spec: VmSpec): string[] {
  const t = spec.template;
  if (!t) return [];
  const share = t.mode === "save" ? "on" : "off";
  const args = [
    "-object",
    `memory-backend-file,id=mem,size=${spec.memoryMiB}M,mem-path=${escapeOptionValue(`${t.dir}/memory`)},share=${share}`,
    "-chardev",
    `socket,id=qmpfd,path=${escapeOptionValue(qmpFdSocket(spec))},server=on,wait=off`,
    "-mon",
    "chardev=qmpfd,mode=control",
  ];
  if (t.mode === "restore") args.push("-S", "-incoming", "defer");
  return args;
}

export function buildQemuArgs(spec: VmSpec, host: HostFacts, options: QemuArgsOptions = {}): string[] {
  const { accelerator } = detectAccelerator(spec.accelerator, host.cpuFlags, host.kvmOpens);
  const mmio = isMicrovm(spec.machine);
  const dev = (base: string) => (mmio ? `${base}-device` : `${base}-pci`);
  const e = escapeOptionValue;

  const args: string[] = [
    "-name",
    `husk-${spec.sandboxId}`,
    // Nothing we did not ask for: no default NIC/VGA/serial/monitor, no config files.
    "-nodefaults",
    "-no-user-config",
    "-nographic",
    // A guest reboot (or panic with panic=-1) ends QEMU: the monitor sees the exit.
    "-no-reboot",
    ...(options.seccomp === false ? [] : ["-sandbox", QEMU_SANDBOX]),
    "-machine",
    buildMachine(spec),
    ...(accelerator === "kvm"
      ? ["-accel", "kvm", "-cpu", "host"]
      : // -cpu max: the guest runs Bun, whose x64 build needs AVX2; tb-size bounds the translation cache.
        ["-accel", `tcg,tb-size=${spec.tcgCacheMiB ?? 64}`, "-cpu", "max"]),
    "-smp",
    String(spec.vcpus),
    "-m",
    `${spec.memoryMiB}M`,
    // A clone's kernel and initramfs are in the template's RAM already:
    // loading them again would only keep a copy (≈ 20 MiB) in QEMU's heap.
    ...(spec.template?.mode === "restore"
      ? []
      : ["-kernel", spec.kernel, ...(spec.initrd ? ["-initrd", spec.initrd] : []), "-append", buildKernelCmdline(spec, host, accelerator)]),
    // Guest console → file in the sandbox dir (tail goes into boot errors).
    "-chardev",
    `file,id=console,path=${e(spec.consoleLog)}`,
    "-serial",
    "chardev:console",
    // QMP: QEMU listens, the driver connects; wait=off so QEMU does not block on it.
    "-chardev",
    `socket,id=qmp,path=${e(spec.qmpSocket)},server=on,wait=off`,
    "-mon",
    "chardev=qmp,mode=control",
    ...templateArgs(spec),
  ];

  if (options.vsockCid !== undefined) {
    if (!Number.isInteger(options.vsockCid) || options.vsockCid < 3 || options.vsockCid > 0xffff_fffe) {
      throw new HypervisorError(`invalid vsock guest cid ${options.vsockCid}: must be an integer ≥ 3`);
    }
    args.push("-device", `${mmio ? "vhost-vsock-device" : "vhost-vsock-pci"},id=vsock0,guest-cid=${options.vsockCid}`);
  } else {
    args.push(
      "-device",
      `${dev("virtio-serial")},id=vser0,max_ports=2`,
      "-chardev",
      `socket,id=agent,path=${e(spec.agentSocket)},server=on,wait=off`,
      "-device",
      `virtserialport,bus=vser0.0,chardev=agent,name=${AGENT_PORT_NAME}`,
    );
  }

  args.push(
    "-fsdev",
    `local,id=fs-shared,path=${e(spec.sharedDir)},security_model=none`,
    "-device",
    `${dev("virtio-9p")},fsdev=fs-shared,mount_tag=${SHARED_TAG}`,
  );
  if (spec.agentDir) {
    args.push(
      "-fsdev",
      `local,id=fs-agent,path=${e(spec.agentDir)},security_model=none,readonly=on`,
      "-device",
      `${dev("virtio-9p")},fsdev=fs-agent,mount_tag=${AGENT_TAG}`,
    );
  }
  for (const [i, nic] of (spec.network?.nics ?? []).entries()) {
    if (!TAP_NAME.test(nic.tap)) throw new HypervisorError(`invalid tap device name ${JSON.stringify(nic.tap)}`);
    if (nic.mac !== undefined && !MAC.test(nic.mac)) throw new HypervisorError(`invalid MAC address ${JSON.stringify(nic.mac)}`);
    // A template's NIC has no backend (it never carries traffic; the
    // clone's tap is plugged in behind the same device) and a fixed MAC.
    const saving = spec.template?.mode === "save";
    const mac = spec.template ? templateMac(i) : nic.mac;
    if (!saving) {
      // vhost-net needs /dev/vhost-net and KVM to pay off; the tap exists already (persistent).
      args.push("-netdev", `tap,id=net${i},ifname=${nic.tap},script=no,downscript=no,vhost=off`);
    }
    args.push(
      // romfile= : no iPXE option ROM on PCI machines (PVH boots the kernel directly).
      "-device",
      `${dev("virtio-net")}${saving ? "" : `,netdev=net${i}`}${mac ? `,mac=${mac}` : ""}${mmio ? "" : ",romfile="}`,
    );
  }
  if (spec.image) {
    args.push("-drive", `file=${e(spec.image)},if=none,id=image,format=raw,readonly=on`, "-device", `${dev("virtio-blk")},drive=image`);
  }
  return args;
}
