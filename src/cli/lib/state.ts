import type { ContainerStatus } from "../../core/api.ts";
import { OCI_VERSION } from "../../oci/spec.ts";
import { ociStatus } from "../../core/status.ts";

/**
 * `husk state` / `list --format json`: the OCI state (ociVersion, id,
 * status, pid, bundle, annotations) plus the fields runc adds (rootfs,
 * created, owner), in runc's key order. pid is the shim's: the host process
 * standing for the container; absent once stopped.
 */
export interface RuncState {
  ociVersion: string;
  id: string;
  pid: number;
  status: string;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
}

export function runcState(c: ContainerStatus): RuncState {
  const status = ociStatus(c.state);
  return {
    ociVersion: OCI_VERSION,
    id: c.id,
    pid: status === "stopped" ? 0 : c.pid,
    status,
    bundle: c.bundle,
    rootfs: c.rootfs,
    created: c.createdAt,
    owner: "",
    ...(Object.keys(c.annotations).length > 0 ? { annotations: c.annotations } : {}),
  };
}
