import { mkdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { MONITOR_SOCKET, SHORT_SOCKET_DIR, socketsDir } from "./layout.ts";

/**
 * Where a sandbox's unix sockets live. sun_path holds 107 bytes: with a long
 * --root (containerd's /run/containerd/runc/k8s.io) and a 64-character pod id
 * <root>/sandboxes/<sid>/monitor.sock does not fit. Such sockets move to
 * <root>/sockets/<hash>/, a directory of the sandbox's own named by a hash
 * of the sandbox directory (so everything of a root stays under it, every
 * process — CLI, monitor, shim, QEMU — computes the same path, and a
 * confined QEMU is shown its own sockets and no other sandbox's); only when
 * even that is too long (a root of more than ≈ 60 bytes) do they go under a
 * fixed directory.
 */
/** Leave room: QEMU and libraries add nothing, but stay well under 107. */
const MAX_DIRECT = 100;

export function socketPath(dir: string, name: string): string {
  const direct = join(dir, name);
  if (Buffer.byteLength(direct) <= MAX_DIRECT) return direct;
  // Bun's hasher, not node:crypto: loading node:crypto costs status and list ~1.5 ms of startup. Same sha256.
  const short = join(new Bun.CryptoHasher("sha256").update(dir).digest("hex").slice(0, 24), name);
  const sandboxes = dirname(dir);
  if (basename(sandboxes) === "sandboxes") {
    const underRoot = join(socketsDir(dirname(sandboxes)), short);
    if (Buffer.byteLength(underRoot) <= MAX_DIRECT) return underRoot;
  }
  return join(SHORT_SOCKET_DIR, short);
}

/** The directory a sandbox's sockets moved to, when they did not stay in `dir`; removed with the sandbox. */
export function socketDirOf(dir: string): string | undefined {
  const d = dirname(socketPath(dir, MONITOR_SOCKET));
  return d === dir ? undefined : d;
}

/** socketPath, creating the directory (0700) when the socket does not go into `dir` itself. */
export function ensureSocketPath(dir: string, name: string): string {
  const path = socketPath(dir, name);
  if (dirname(path) !== dir) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  return path;
}
