import * as v from "valibot";
import { ID_PATTERN } from "../host/ids.ts";

/**
 * The VM a sandbox boots, as one valibot schema: the monitor's vm.json and
 * the core's sandbox.json store it, and the VmSpec type the drivers take is
 * derived from it (./types.ts), so the two cannot drift.
 */

/** What a NIC's tap name and MAC may be. */
export const TAP_NAME = /^[A-Za-z0-9_.-]{1,15}$/;
export const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

const abs = v.pipe(v.string(), v.startsWith("/", "must be an absolute path"), v.maxLength(4096));
const posInt = v.pipe(v.number(), v.integer(), v.minValue(1));

export const AcceleratorSchema = v.picklist(["auto", "kvm", "tcg"]);

export const VmNicSchema = v.strictObject({
  /** Tap device in the network namespace, created (persistent) before QEMU starts. */
  tap: v.pipe(v.string(), v.regex(TAP_NAME, "invalid tap device name")),
  /** The guest NIC's MAC: the one of the netns interface it stands for. */
  mac: v.optional(v.pipe(v.string(), v.regex(MAC, "invalid MAC address"))),
});

export const VmNetworkSchema = v.strictObject({
  /** Host path of the network namespace (/proc/<pid>/ns/net, /var/run/netns/x). */
  netns: abs,
  nics: v.pipe(v.array(VmNicSchema), v.maxLength(16)),
});

export const VmTemplateSchema = v.strictObject({ mode: v.picklist(["save", "restore"]), dir: abs });

/** Everything needed to boot one sandbox VM; built by the caller from config + sandbox dir. */
export const VmSpecSchema = v.strictObject({
  sandboxId: v.pipe(v.string(), v.regex(ID_PATTERN)),
  /** <root>/sandboxes/<sid>: sockets, console.log and pid files go here. */
  dir: abs,
  /** Host directory exported to the guest over virtio-9p (mount tag "husk-shared"). */
  sharedDir: abs,
  /** The qemu-system-x86_64 executable. */
  binary: v.pipe(v.string(), v.minLength(1)),
  kernel: abs,
  initrd: v.optional(abs),
  /** Read-only disk image (if the image builder made one). */
  image: v.optional(abs),
  /**
   * Host directory holding the agent executable (the husk binary), exported
   * read-only over virtio-9p with mount tag "husk-agent"; the guest init
   * mounts it at /husk and runs /husk/husk agent. Absent when the image
   * carries the agent itself.
   */
  agentDir: v.optional(abs),
  machine: v.pipe(v.string(), v.regex(/^(microvm|q35|pc)(,[a-z0-9_-]+=[a-z0-9_-]+)*$/, "unknown machine type")),
  accelerator: AcceleratorSchema,
  vcpus: v.pipe(posInt, v.maxValue(256)),
  memoryMiB: v.pipe(posInt, v.minValue(64)),
  /** TCG only: the translation cache's size (MiB), per VM; every VM pays it in host memory. Default 64. */
  tcgCacheMiB: v.optional(v.pipe(posInt, v.maxValue(4096))),
  kernelParams: v.array(v.pipe(v.string(), v.maxLength(4096))),
  bootTimeoutMs: posInt,
  /** Files under dir the driver uses; fixed names so tools can find them. */
  consoleLog: abs,
  qmpSocket: abs,
  agentSocket: abs,
  /**
   * The sandbox's first container's `linux.cgroupsPath`: QEMU and its
   * monitor join that host cgroup as soon as QEMU is spawned (before the
   * guest touches its memory), for accounting (src/host/cgroup.ts).
   */
  hostCgroup: v.optional(v.pipe(v.string(), v.maxLength(4096))),
  /**
   * Boot as a VM template, or restore a clone of one (src/factory/). Guest
   * RAM lives in <dir>/memory (a file on a tmpfs; shared while the template
   * is made, mapped privately — copy-on-write — by each clone) and the
   * device state in <dir>/state, handed to QEMU as an open fd.
   */
  template: v.optional(VmTemplateSchema),
  /**
   * The container's network, when the network plugin connected one: QEMU runs
   * in this network namespace (joined with nsenter) and gets one virtio-net
   * NIC per tap device there, in order (guest eth0, eth1, ...).
   */
  network: v.optional(VmNetworkSchema),
});
