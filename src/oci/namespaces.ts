import { readlinkSync } from "node:fs";
import { InvalidSpecError } from "../host/errors.ts";
import type { OciSpec } from "./spec.ts";

/** The name the kernel shows in /proc/<pid>/ns/* links for each spec namespace type. */
const KERNEL_NAME: Record<string, string> = {
  pid: "pid",
  network: "net",
  mount: "mnt",
  ipc: "ipc",
  uts: "uts",
  user: "user",
  cgroup: "cgroup",
  time: "time",
};

/**
 * A namespace given by path must be a namespace of that type (runtime spec:
 * "the runtime MUST generate an error" otherwise). husk cannot join a host
 * namespace from inside a VM (the guest gets a new one), but a wrong path is
 * still the caller's error and is reported before anything starts. Only
 * /proc-style namespace links can be checked this way; a bind-mounted
 * namespace file (/var/run/netns/x) reads as a plain file and must exist.
 */
export function checkNamespacePaths(spec: OciSpec): void {
  (spec.linux?.namespaces ?? []).forEach((ns, i) => {
    if (!ns.path) return;
    const at = `linux.namespaces[${i}].path`;
    let target: string | undefined;
    try {
      target = readlinkSync(ns.path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") throw new InvalidSpecError(`config.json: ${at}: ${ns.path} does not exist`, { details: { path: at } });
      if (code === "EINVAL") return; // not a symlink: a bind-mounted namespace file
      throw new InvalidSpecError(`config.json: ${at}: cannot read ${ns.path}: ${(e as Error).message}`, { details: { path: at } });
    }
    const kind = /^([a-z_]+):\[\d+\]$/.exec(target)?.[1];
    const want = KERNEL_NAME[ns.type];
    if (kind !== undefined && want !== undefined && kind !== want && !(want === "pid" && kind === "pid_for_children")) {
      throw new InvalidSpecError(`config.json: ${at}: ${ns.path} is a ${kind} namespace, not ${ns.type}`, { details: { path: at } });
    }
  });
}
