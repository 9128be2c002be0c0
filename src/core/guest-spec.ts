import type { OciSpec } from "../oci/spec.ts";
import { guestRootfs } from "../store.ts";

/**
 * The spec the guest's crun receives, from the (possibly plugin-amended)
 * host spec. Pure.
 * - root.path: always the rootfs shared over 9p, whatever a plugin did.
 * - hooks: removed. OCI hooks run on the host, where their paths exist
 *   (src/oci/hooks.ts); crun in the guest would try to exec host paths.
 * - namespaces: `path` entries name host namespaces (/proc/<pid>/ns/net,
 *   /var/run/netns/x), which mean nothing in the guest: the container gets
 *   new namespaces of those types inside the VM instead.
 */
export function guestSpecOf(spec: OciSpec, containerId: string): OciSpec {
  const { hooks: _hostHooks, ...rest } = spec;
  const out: OciSpec = { ...rest, root: { ...spec.root, path: guestRootfs(containerId) } };
  if (spec.linux?.namespaces) {
    out.linux = { ...spec.linux, namespaces: spec.linux.namespaces.map(({ path: _hostPath, ...ns }) => ns) };
  }
  return out;
}
