import { join } from "node:path";

/** How husk finds and re-runs itself (monitor, shim, template builder, guest agent image). */

/** True when running as the `bun build --compile` executable (not `bun src/main.ts`). */
export function isCompiled(): boolean {
  return Bun.main.startsWith("/$bunfs/") || Bun.main.startsWith("B:/~BUN/") || import.meta.path.startsWith("/$bunfs/");
}

/**
 * The running executable: husk when compiled, bun from source. One replaced
 * while this process runs (an upgrade, a rebuild) reads as "<path> (deleted)":
 * what runs next is the one now at <path>.
 */
export function selfExecutable(): string {
  return process.execPath.replace(/ \(deleted\)$/, "");
}

/** argv that runs husk itself: the executable when compiled; from source, bun plus src/main.ts. */
export function huskCommand(): string[] {
  return isCompiled() ? [selfExecutable()] : [selfExecutable(), join(import.meta.dir, "..", "main.ts")];
}
