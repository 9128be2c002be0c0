import { join } from "node:path";
import { validateId } from "./ids.ts";

/**
 * The on-disk layout (DESIGN.md "On disk"): every path under the state root
 * and in the guest. Ids are validated here, before they become path
 * components, so no caller can forget. Writing and reading the files: json-file.ts.
 */

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;
/**
 * The 9p-shared tree (shared/, shared/<cid>/): traversable by anyone, listable
 * by root only. A container in a user namespace runs as a mapped, non-root
 * uid in the guest and must still reach its rootfs; on the host the sandbox
 * directory above stays 0700.
 */
export const SHARED_DIR_MODE = 0o711;

/**
 * Files in a sandbox directory (<root>/sandboxes/<sid>/) beside sandbox.json,
 * state.json and lock. The monitor's, shared with the CLI:
 */
/** What to boot (written by MonitorBackend before spawning the monitor). */
export const VM_CONFIG_FILE = "vm.json";
/** What the VM is doing (written only by the monitor; read by the CLI/core). */
export const VM_STATE_FILE = "vm-state.json";
/** The monitor's socket (agent calls + "monitor.*" control methods). */
export const MONITOR_SOCKET = "monitor.sock";
/** The monitor's stdout/stderr. */
export const MONITOR_LOG = "monitor.log";
/** The monitor's pid and start time (for liveness and --force). */
export const MONITOR_PID_FILE = "monitor.pid";
/** The hypervisor driver's: */
export const CONSOLE_LOG = "console.log";
export const QMP_SOCKET = "qmp.sock";
export const AGENT_SOCKET = "agent.sock";
export const QEMU_PID_FILE = "qemu.pid";
export const QEMU_LOG_FILE = "qemu.log";

export function sandboxesDir(root: string): string {
  return join(root, "sandboxes");
}
export function sandboxDir(root: string, sid: string): string {
  return join(sandboxesDir(root), validateId(sid, "sandbox id"));
}
export function sandboxConfigFile(root: string, sid: string): string {
  return join(sandboxDir(root, sid), "sandbox.json");
}
export function sandboxStateFile(root: string, sid: string): string {
  return join(sandboxDir(root, sid), "state.json");
}
export function sandboxLockFile(root: string, sid: string): string {
  return join(sandboxDir(root, sid), "lock");
}
export function sharedDir(root: string, sid: string): string {
  return join(sandboxDir(root, sid), "shared");
}
/** Host side of the bind mount the guest sees at /run/husk/shared/<cid>/rootfs. */
export function sharedRootfs(root: string, sid: string, cid: string): string {
  return join(sharedDir(root, sid), validateId(cid, "container id"), "rootfs");
}
export function containerDir(root: string, sid: string, cid: string): string {
  return join(sandboxDir(root, sid), "containers", validateId(cid, "container id"));
}
export function containerConfigFile(root: string, sid: string, cid: string): string {
  return join(containerDir(root, sid, cid), "config.json");
}
export function containerStateFile(root: string, sid: string, cid: string): string {
  return join(containerDir(root, sid, cid), "state.json");
}
/** Written by the shim when the container's process exits: {"exitCode": n}. */
export function containerExitFile(root: string, sid: string, cid: string): string {
  return join(containerDir(root, sid, cid), "exit.json");
}
export function containerMappingsDir(root: string): string {
  return join(root, "containers");
}
/** <root>/containers/<cid>: a symlink whose target is the sandbox id. */
export function containerMapping(root: string, cid: string): string {
  return join(containerMappingsDir(root), validateId(cid, "container id"));
}

/** <root>/sockets/<hash>/: a sandbox's sockets when <root>/sandboxes/<sid>/ is too long for sun_path (sockets.ts). */
export function socketsDir(root: string): string {
  return join(root, "sockets");
}
/** The fixed fallback when even <root>/sockets/<hash>/ is too long. */
export const SHORT_SOCKET_DIR = "/run/husk/sockets";

/** Guest path of a container's rootfs (the 9p share is mounted at /run/husk/shared). */
export const GUEST_SHARED_DIR = "/run/husk/shared";
export function guestRootfs(cid: string): string {
  return `${GUEST_SHARED_DIR}/${validateId(cid, "container id")}/rootfs`;
}
