import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

/**
 * Where a sandbox's unix sockets live. sun_path holds 107 bytes: with a long
 * --root (containerd's /run/containerd/runc/k8s.io) and a 64-character pod id
 * <root>/sandboxes/<sid>/monitor.sock does not fit. Such sockets move to a
 * short, fixed directory under a name derived from the sandbox directory, so
 * every process (CLI, monitor, shim, QEMU) computes the same path.
 */
export const SHORT_SOCKET_DIR = "/run/husk/sockets";
/** Leave room: QEMU and libraries add nothing, but stay well under 107. */
const MAX_DIRECT = 100;

export function socketPath(dir: string, name: string): string {
  const direct = join(dir, name);
  if (Buffer.byteLength(direct) <= MAX_DIRECT) return direct;
  const hash = createHash("sha256").update(dir).digest("hex").slice(0, 24);
  return join(SHORT_SOCKET_DIR, `${hash}-${name}`);
}

/** socketPath, creating the short directory (0700) when the socket goes there. */
export function ensureSocketPath(dir: string, name: string): string {
  const path = socketPath(dir, name);
  if (path.startsWith(`${SHORT_SOCKET_DIR}/`)) mkdirSync(SHORT_SOCKET_DIR, { recursive: true, mode: 0o700 });
  return path;
}
