import { rmSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { VmSpecSchema } from "../hypervisor/spec.ts";
import { readJson, readJsonIfExists, writeJsonAtomic } from "../host/json-file.ts";
import { VM_CONFIG_FILE, VM_STATE_FILE } from "../host/layout.ts";

/** vm.json and vm-state.json, the files the monitor shares with the CLI (names in host/layout.ts). */

const abs = v.pipe(v.string(), v.startsWith("/", "must be an absolute path"), v.maxLength(4096));
const posInt = v.pipe(v.number(), v.integer(), v.minValue(1));

/** vm.json: the spec plus what the monitor needs beyond it. */
export const VmConfigSchema = v.strictObject({
  version: v.literal(1),
  spec: VmSpecSchema,
  stopTimeoutMs: posInt,
  /** VM templates on (`[factory]`): clone from a template in this directory when one matches. */
  factory: v.optional(v.strictObject({ dir: abs })),
});
export type VmConfig = v.InferOutput<typeof VmConfigSchema>;

const ErrorInfoSchema = v.strictObject({ code: v.string(), message: v.string() });

/** vm-state.json. "failed" = boot failed (error says why); "stopped" = the VM ended after booting. */
export const VmStateSchema = v.strictObject({
  version: v.literal(1),
  sandboxId: v.string(),
  state: v.picklist(["booting", "running", "paused", "stopped", "failed"]),
  monitorPid: posInt,
  qemuPid: v.optional(posInt),
  error: v.optional(ErrorInfoSchema),
  exit: v.optional(v.strictObject({ code: v.nullable(v.number()), signal: v.nullable(v.string()) })),
  /** Why the VM stopped: asked to ("stop"), or it went away on its own ("exited"). */
  reason: v.optional(v.picklist(["stop", "exited"])),
  /** How the VM came up: cloned from a template, or a cold boot (and why, when templates are on). */
  boot: v.optional(
    v.strictObject({
      mode: v.picklist(["clone", "cold"]),
      ms: v.number(),
      template: v.optional(v.string()),
      /** A template was there but could not be used: the cold boot's cause, for a warning. */
      warning: v.optional(v.pipe(v.string(), v.maxLength(4096))),
    }),
  ),
  updatedAt: v.string(),
});
export type VmState = v.InferOutput<typeof VmStateSchema>;

export function readVmConfig(dir: string): VmConfig {
  return readJson(join(dir, VM_CONFIG_FILE), VmConfigSchema, "vm config");
}

export function writeVmConfig(dir: string, config: VmConfig): void {
  writeJsonAtomic(join(dir, VM_CONFIG_FILE), v.parse(VmConfigSchema, config));
}

/** The monitor's last recorded VM state, or undefined if none was written yet. */
export function readVmState(dir: string): VmState | undefined {
  return readJsonIfExists(join(dir, VM_STATE_FILE), VmStateSchema, "vm state");
}

export function writeVmState(dir: string, state: Omit<VmState, "version" | "updatedAt">): void {
  const full: VmState = { version: 1, ...state, updatedAt: new Date().toISOString() };
  writeJsonAtomic(join(dir, VM_STATE_FILE), full);
}

export function removeVmState(dir: string): void {
  rmSync(join(dir, VM_STATE_FILE), { force: true });
}
