/**
 * The hypervisor driver: what the sandbox monitor uses to own one VM.
 * Implementations: qemu/ (real) and mock/ (records calls, scriptable
 * failures). Only ./registry.ts picks one.
 */

export type Accelerator = "auto" | "kvm" | "tcg";

/** Everything needed to boot one sandbox VM; built by the caller from config + sandbox dir. */
export interface VmSpec {
  sandboxId: string;
  /** <root>/sandboxes/<sid>: sockets, console.log and pid files go here. */
  dir: string;
  /** Host directory exported to the guest over virtio-9p (mount tag "husk-shared"). */
  sharedDir: string;
  binary: string; // qemu-system-x86_64 path
  kernel: string;
  initrd?: string;
  /** Read-only disk image (if the image builder made one). */
  image?: string;
  /**
   * Host directory holding the agent executable (the husk binary), exported
   * read-only over virtio-9p with mount tag "husk-agent"; the guest init
   * mounts it at /husk and runs /husk/husk agent. Absent when the image
   * carries the agent itself.
   */
  agentDir?: string;
  machine: string; // "microvm" | "q35" | "pc"
  accelerator: Accelerator;
  vcpus: number;
  memoryMiB: number;
  /** TCG only: the translation cache's size (MiB), per VM; every VM pays it in host memory. Default 64. */
  tcgCacheMiB?: number;
  kernelParams: string[];
  bootTimeoutMs: number;
  /** Files under dir the driver uses; fixed names so tools can find them. */
  consoleLog: string;
  qmpSocket: string;
  agentSocket: string;
  /**
   * The container's network, when the network plugin connected one: QEMU runs
   * in this network namespace (joined with nsenter) and gets one virtio-net
   * NIC per tap device there, in order (guest eth0, eth1, ...).
   */
  network?: VmNetwork;
  /**
   * The sandbox's first container's `linux.cgroupsPath`: QEMU and its
   * monitor join that host cgroup as soon as QEMU is spawned (before the
   * guest touches its memory), for accounting (src/core/host-cgroup.ts).
   */
  hostCgroup?: string;
  /**
   * Boot as a VM template, or restore a clone of one (src/factory/). Guest
   * RAM lives in <dir>/memory (a file on a tmpfs; shared while the template
   * is made, mapped privately — copy-on-write — by each clone) and the
   * device state in <dir>/state, handed to QEMU as an open fd.
   */
  template?: VmTemplate;
}

export interface VmTemplate {
  mode: "save" | "restore";
  dir: string;
}

export interface VmNetwork {
  /** Host path of the network namespace (/proc/<pid>/ns/net, /var/run/netns/x). */
  netns: string;
  nics: VmNic[];
}

export interface VmNic {
  /** Tap device in `netns`, created (persistent) before QEMU starts. */
  tap: string;
  /** The guest NIC's MAC: the one of the netns interface it stands for. */
  mac?: string;
}

/** How to reach the guest agent's byte channel. */
export type AgentEndpoint =
  | { kind: "unix"; path: string } // virtio-serial port backed by a unix socket
  | { kind: "vsock"; cid: number; port: number };

export interface HypervisorCapabilities {
  accelerator: "kvm" | "tcg" | "none";
  vsock: boolean;
  pause: boolean;
  hotplug: boolean;
}

export interface VmExit {
  /** Exit code of the hypervisor process, or null if killed by a signal. */
  code: number | null;
  signal: string | null;
  /** Last lines of the guest console, to put in errors. */
  consoleTail: string;
}

export type VmStatus = "running" | "paused" | "stopped";

export interface DeviceSpec {
  kind: "9p" | "block" | "net";
  id: string;
  /** Host path (9p dir, block image) or tap name (net). */
  source: string;
  readonly?: boolean;
  /** 9p mount tag or MAC address. */
  tag?: string;
}

export interface Hypervisor {
  readonly name: string;
  capabilities(): Promise<HypervisorCapabilities>;
  /** Validate the spec (binary, kernel, initrd exist) before anything starts. */
  prepare(spec: VmSpec): Promise<void>;
  /** Start the VM process; resolves once it runs and its control channel answers. */
  start(): Promise<{ pid: number }>;
  /** Graceful shutdown, then kill after timeoutMs. Idempotent. */
  stop(options?: { timeoutMs?: number }): Promise<void>;
  /** Resolves when the VM process has exited. */
  wait(): Promise<VmExit>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  status(): Promise<VmStatus>;
  addDevice(device: DeviceSpec): Promise<void>;
  agentEndpoint(): AgentEndpoint;
  /** Remove sockets and files the driver made. Idempotent; safe after a crash. */
  cleanup(): Promise<void>;
  /** spec.template.mode "save": pause the VM and write its device state to the template (RAM is in its file already). */
  saveTemplate?(): Promise<{ stateBytes: number }>;
  /** spec.template.mode "restore": load the template's device state and run the clone. */
  restoreTemplate?(): Promise<void>;
}
