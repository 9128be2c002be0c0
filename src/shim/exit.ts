import { join } from "node:path";
import { writeJsonAtomic } from "../host/json-file.ts";

/** The status the shim exits with, as a shell reports it: 128+signal when signalled. */
export function exitStatus(result: { exitCode: number; signal?: number | undefined }): number {
  return result.signal ? 128 + result.signal : result.exitCode;
}

/**
 * <sandboxDir>/containers/<cid>/exit.json (store.containerExitFile's layout):
 * the core's status repair reads it to report the container stopped with
 * this code once the shim is gone.
 */
export function writeExitFile(sandboxDir: string, containerId: string, exitCode: number): void {
  writeJsonAtomic(join(sandboxDir, "containers", containerId, "exit.json"), { exitCode });
}
