import type { OciSpec } from "../oci/spec.ts";
import { guestRootfs } from "../host/layout.ts";

/** The newest runtime-spec version the guest's crun accepts. */
export const CRUN_MAX_OCI_VERSION = "1.1.0";

/**
 * The spec the guest's crun receives, from the (possibly plugin-amended)
 * host spec. Pure.
 * - root.path: always the rootfs shared over 9p, whatever a plugin did.
 * - hooks: removed. OCI hooks run on the host, where their paths exist
 *   (src/oci/hooks.ts); crun in the guest would try to exec host paths.
 * - namespaces: `path` entries name host namespaces (/proc/<pid>/ns/net,
 *   /var/run/netns/x), which mean nothing in the guest: the container gets
 *   new namespaces of those types inside the VM instead — except a path
 *   /proc/<pid>/ns/{net,ipc,uts,pid} whose <pid> is the host pid standing for
 *   another container of the same sandbox (its shim): that is how CRI puts a
 *   pod's containers into the pause container's network, IPC and UTS (and,
 *   when the pod asks, PID) namespaces, so the container joins that
 *   container's namespace in the guest (`peers`: host pid → guest pid).
 * - network namespace: when the VM has NICs (the network plugin connected
 *   the container's netns to it), the container stays in the guest's own
 *   network namespace, where those NICs are: the VM is the network boundary,
 *   as in Kata. Without NICs it gets a new one (loopback only), as asked.
 * - ociVersion: the guest's crun (Debian's 1.8) refuses versions newer than
 *   1.1.x ("unknown version specified"); runc accepts them, so a 1.2+ spec is
 *   handed to crun as 1.1.0 (unknown fields pass through, as the spec wants).
 * - memory.kernel / kernelTCP: deprecated in the runtime spec and without a
 *   cgroup v2 equivalent; the guest has cgroup v2 only, where crun refuses
 *   them and runc ignores them. husk ignores them, as runc does.
 */
/** Namespace types a pod's containers may share with another container of the sandbox, and their /proc file. */
const JOINABLE: Record<string, string> = { network: "net", ipc: "ipc", uts: "uts", pid: "pid" };
const PROC_NS = /^\/proc\/(\d+)\/ns\/(net|ipc|uts|pid)$/;

export function guestSpecOf(
  spec: OciSpec,
  containerId: string,
  opts: { vmNetwork?: boolean; peers?: ReadonlyMap<number, number> } = {},
): OciSpec {
  const { hooks: _hostHooks, ...rest } = spec;
  const out: OciSpec = { ...rest, root: { ...spec.root, path: guestRootfs(containerId) } };
  const minor = /^1\.(\d+)\./.exec(spec.ociVersion)?.[1];
  if (minor !== undefined && Number(minor) > 1) out.ociVersion = CRUN_MAX_OCI_VERSION;
  if (spec.linux?.namespaces) {
    const kept = opts.vmNetwork ? spec.linux.namespaces.filter((ns) => ns.type !== "network") : spec.linux.namespaces;
    out.linux = {
      ...spec.linux,
      namespaces: kept.map(({ path, ...ns }) => {
        const m = path ? PROC_NS.exec(path) : null;
        const guestPid = m ? opts.peers?.get(Number(m[1])) : undefined;
        if (m && guestPid && JOINABLE[ns.type] === m[2]) return { ...ns, path: `/proc/${guestPid}/ns/${m[2]}` };
        return ns;
      }),
    };
  }
  const memory = spec.linux?.resources?.memory;
  if (memory && ("kernel" in memory || "kernelTCP" in memory)) {
    const { kernel: _k, kernelTCP: _t, ...v2memory } = memory;
    out.linux = { ...out.linux, resources: { ...spec.linux!.resources, memory: v2memory } };
  }
  return out;
}
