import { rmSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { readJsonIfExists, writeJsonAtomic } from "../../host/json-file.ts";

/**
 * The mock hypervisor's little persisted state, kept in the sandbox dir so
 * that API calls from separate processes see one VM.
 */

export const MOCK_HYPERVISOR_FILE = "mock-hypervisor.json";

export const MockVmStateSchema = v.strictObject({
  status: v.picklist(["prepared", "running", "paused", "stopped"]),
  /** Placeholder process standing for the VM process. */
  pid: v.optional(v.number()),
  pidStart: v.optional(v.number()),
  /** Every driver call, from every process, in order. */
  calls: v.array(v.strictObject({ method: v.string(), pid: v.number() })),
});
export type MockVmState = v.InferOutput<typeof MockVmStateSchema>;

export function mockStateFile(dir: string): string {
  return join(dir, MOCK_HYPERVISOR_FILE);
}

export function readMockVmState(dir: string): MockVmState | undefined {
  return readJsonIfExists(mockStateFile(dir), MockVmStateSchema, "mock hypervisor state");
}

export function writeMockVmState(dir: string, state: MockVmState): void {
  writeJsonAtomic(mockStateFile(dir), state);
}

export function removeMockVmState(dir: string): void {
  rmSync(mockStateFile(dir), { force: true });
}
