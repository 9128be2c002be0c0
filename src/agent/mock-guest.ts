import * as v from "valibot";

/** The mock agent's guest (./mock.ts): containers and processes as it persists them, and signal facts. */

export const ProcessSchema = v.strictObject({
  pid: v.number(),
  execId: v.optional(v.string()),
  args: v.array(v.string()),
  status: v.picklist(["created", "running", "exited"]),
  exitCode: v.optional(v.number()),
  signal: v.optional(v.number()),
  stdio: v.optional(v.record(v.string(), v.unknown())),
});
export type MockProcess = v.InferOutput<typeof ProcessSchema>;

export const ContainerSchema = v.strictObject({
  status: v.picklist(["created", "running", "paused", "stopped"]),
  processes: v.record(v.string(), ProcessSchema),
  resources: v.optional(v.unknown()),
});
export type MockContainer = v.InferOutput<typeof ContainerSchema>;

export const MockGuestSchema = v.strictObject({
  containers: v.record(v.string(), ContainerSchema),
  nextPid: v.number(),
  shutdown: v.boolean(),
  interfaces: v.array(v.unknown()),
  routes: v.array(v.unknown()),
});
export type MockGuest = v.InferOutput<typeof MockGuestSchema>;

export const INIT = "init";
export const keyOf = (execId?: string) => execId ?? INIT;
/** Signals whose default action does not terminate (plus 0, the probe). */
export const NON_LETHAL = new Set([0, 17, 18, 19, 20, 21, 22, 23, 28]);

export function emptyGuest(): MockGuest {
  return { containers: {}, nextPid: 2, shutdown: false, interfaces: [], routes: [] };
}
