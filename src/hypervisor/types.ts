import type * as v from "valibot";
import type { AcceleratorSchema, VmNetworkSchema, VmNicSchema, VmSpecSchema, VmTemplateSchema } from "./spec.ts";

/**
 * The hypervisor driver: what the sandbox monitor uses to own one VM.
 * Implementations: qemu/ (real) and mock/ (records calls, scriptable
 * failures). Only ./registry.ts picks one.
 */

export type Accelerator = v.InferOutput<typeof AcceleratorSchema>;
/** Everything needed to boot one sandbox VM: see ./spec.ts, the schema it is derived from. */
export type VmSpec = v.InferOutput<typeof VmSpecSchema>;
export type VmTemplate = v.InferOutput<typeof VmTemplateSchema>;
export type VmNetwork = v.InferOutput<typeof VmNetworkSchema>;
export type VmNic = v.InferOutput<typeof VmNicSchema>;

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
