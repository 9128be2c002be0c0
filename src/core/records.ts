import * as v from "valibot";
import type { VmSpec } from "../hypervisor/types.ts";
import { LaunchIoSchema } from "./ports.ts";
import { ID_PATTERN } from "../host/ids.ts";
import { VmSpecSchema } from "../hypervisor/spec.ts";
import { SpecSchema } from "../oci/spec.ts";
import { STATUSES } from "./status.ts";

/**
 * Schemas of the files husk writes under <root>. Strict: an unknown field in
 * our own files means corruption or a version mismatch, never something to
 * ignore. Types are derived from these schemas.
 */

const id = v.pipe(v.string(), v.regex(ID_PATTERN, "invalid id"));
const nat = v.pipe(v.number(), v.integer(), v.minValue(0));
const annotations = v.record(v.string(), v.string());
const isoTime = v.pipe(v.string(), v.isoTimestamp());

export const StatusSchema = v.picklist(STATUSES);

// The stored spec must be exactly a VmSpec (checked both ways at compile time).
type StoredVmSpec = v.InferOutput<typeof VmSpecSchema>;
export const vmSpecMatches: [StoredVmSpec] extends [VmSpec] ? ([VmSpec] extends [StoredVmSpec] ? true : never) : never = true;

/** <sandboxDir>/sandbox.json: what was asked. */
export const SandboxRecordSchema = v.strictObject({
  id,
  createdAt: isoTime,
  annotations,
  /** Name of the VmBackend that booted it (informational). */
  backend: v.string(),
  /** The VM as booted; reused to reconnect so later config edits cannot break it. */
  vm: VmSpecSchema,
});
export type SandboxRecord = v.InferOutput<typeof SandboxRecordSchema>;

/** <sandboxDir>/state.json: what is. */
export const SandboxStateSchema = v.strictObject({
  state: StatusSchema,
  /** Container ids in creation order. */
  containers: v.array(id),
  /** Process owning the VM (monitor), and its start time (/proc stat field 22) against pid reuse. */
  vmPid: v.optional(nat),
  vmPidStart: v.optional(nat),
});
export type SandboxState = v.InferOutput<typeof SandboxStateSchema>;

/** <sandboxDir>/containers/<cid>/config.json. */
export const ContainerRecordSchema = v.strictObject({
  id,
  sandboxId: id,
  bundle: v.string(),
  /** Host path of the bundle's rootfs (bind-mounted into the share). */
  rootfs: v.string(),
  createdAt: isoTime,
  annotations,
  io: LaunchIoSchema,
  /** The spec as loaded from the bundle. */
  spec: SpecSchema,
  /** The spec sent to the guest (rootfs rewritten, lifecycle amendments); set once created. */
  guestSpec: v.optional(SpecSchema),
});
export type ContainerRecord = v.InferOutput<typeof ContainerRecordSchema>;

/** <sandboxDir>/containers/<cid>/state.json. */
export const ContainerStateSchema = v.strictObject({
  state: StatusSchema,
  /** Host pid standing for the container (the shim), 0 when none. */
  pid: nat,
  pidStart: v.optional(nat),
  guestPid: nat,
  /** How the rootfs reaches the share: a bind mount (root) or a symlink (unprivileged tests). */
  share: v.picklist(["bind", "symlink"]),
  startedAt: v.optional(isoTime),
  exitCode: v.optional(nat),
});
export type ContainerState = v.InferOutput<typeof ContainerStateSchema>;

/**
 * The records as status and list read them: every field checked but the
 * specs (the container's OCI specs, the sandbox's VM), left to be checked at
 * first use (loadSandbox with deferSpecs). Checking a container's spec is
 * most of the cost of reading a sandbox (~0.25 ms in a short-lived process).
 */
export const SandboxRecordHeadSchema = v.strictObject({ ...SandboxRecordSchema.entries, vm: v.unknown() });
export const ContainerRecordHeadSchema = v.strictObject({
  ...ContainerRecordSchema.entries,
  spec: v.unknown(),
  guestSpec: v.optional(v.unknown()),
});

/** exit.json the shim writes when the container's process ends. */
export const ExitRecordSchema = v.object({ exitCode: nat });
