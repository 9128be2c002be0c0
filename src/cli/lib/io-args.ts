import { resolve } from "node:path";
import { assertConsoleSocket, assertPidFileDir } from "../../shim/launcher.ts";

/** Flags runc accepts that mean nothing when the container runs in its own VM. */
export const acceptedFlags = {
  "no-pivot": { type: "boolean", description: "accepted for runc compatibility (the guest always pivots)" },
  "no-new-keyring": { type: "boolean", description: "accepted for runc compatibility (the guest kernel's keyring is the container's)" },
  "preserve-fds": { type: "string", description: "accepted for runc compatibility; only 0 is supported (no fds cross into the VM)" },
} as const;

export const pidFileArg = { type: "string", description: "write the container's host pid (its shim) to this file" } as const;
export const consoleSocketArg = {
  type: "string",
  description: "unix socket that receives the pty master (SCM_RIGHTS), as with runc",
} as const;

/** Absolute paths (the shim runs in /); the console socket and the pid file's directory checked before anything is created. */
export function ioPaths(args: { "pid-file"?: string; "console-socket"?: string }): { pidFile?: string; consoleSocket?: string } {
  const out: { pidFile?: string; consoleSocket?: string } = {};
  if (args["pid-file"]) {
    out.pidFile = resolve(args["pid-file"]);
    assertPidFileDir(out.pidFile);
  }
  if (args["console-socket"]) {
    out.consoleSocket = resolve(args["console-socket"]);
    assertConsoleSocket(out.consoleSocket);
  }
  return out;
}
