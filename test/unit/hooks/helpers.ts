import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { OciState } from "../../../src/oci/spec.ts";

/** The sample hook programs in hooks/, by absolute path. */
export const HOOKS_DIR = resolve(import.meta.dir, "../../../hooks");
export const RECORD = join(HOOKS_DIR, "record-state");
export const FAIL = join(HOOKS_DIR, "fail");
export const SLEEP = join(HOOKS_DIR, "sleep");

export function tempDir(prefix = "husk-hooks-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function state(over: Partial<OciState> = {}): OciState {
  return { ociVersion: "1.0.2", id: "c1", status: "creating", pid: 4242, bundle: "/b", annotations: { a: "1" }, ...over };
}

/** Lines written by record-state: [phase, parsed state]. */
export async function readRecord(file: string): Promise<[string, OciState][]> {
  const f = Bun.file(file);
  if (!(await f.exists())) return [];
  return (await f.text())
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const sp = line.indexOf(" ");
      return [line.slice(0, sp), JSON.parse(line.slice(sp + 1)) as OciState];
    });
}
