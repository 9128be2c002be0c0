import { basename, resolve } from "node:path";
import { NotFoundError, UnsupportedError } from "../../src/host/errors.ts";
import type { OciMount } from "../../src/oci/spec.ts";
import type { DeepReadonly } from "../../src/plugins/types.ts";

/**
 * Pure planning: which OCI mounts become host bind mounts shared over 9p,
 * which are created inside the guest, which are refused. The effects
 * (mount/umount) live in ./mount.ts.
 */

export const EMPTY_DIR_MARKER = "kubernetes.io~empty-dir";

export type SourceKind = "dir" | "file" | "block" | "char" | "socket" | "fifo" | "missing";

/** A host path to bind under the shared dir. */
export interface HostBind {
  index: number;
  /** Host source, resolved against the bundle. */
  source: string;
  /** <sandboxDir>/shared/<cid>/mounts/<index>/<basename of source> */
  target: string;
  kind: "dir" | "file";
  recursive: boolean;
  readonly: boolean;
}

export interface StoragePlan {
  binds: HostBind[];
  /** The spec's mounts as the guest must see them. */
  mounts: OciMount[];
}

export interface PlanInput {
  mounts: readonly DeepReadonly<OciMount>[];
  bundle: string;
  sandboxDir: string;
  containerId: string;
  /** The guest's view of <sandboxDir>/shared. */
  guestShared: string;
  /** Filesystem types created inside the guest as they are. */
  guestTypes: readonly string[];
  emptyDirSizeMib?: number;
  kindOf(path: string): SourceKind;
}

const BIND_OPTS = new Set(["bind", "rbind"]);

export function isBindMount(m: DeepReadonly<OciMount>): boolean {
  return m.type === "bind" || m.type === "rbind" || (m.options ?? []).some((o) => BIND_OPTS.has(o));
}

export function mountsDir(sandboxDir: string, containerId: string): string {
  return `${sandboxDir}/shared/${containerId}/mounts`;
}

export function planStorage(input: PlanInput): StoragePlan {
  const binds: HostBind[] = [];
  const mounts: OciMount[] = [];
  const guestTypes = new Set(input.guestTypes);
  for (const [index, m] of input.mounts.entries()) {
    const field = `mounts[${index}]`;
    const copy = structuredClone(m) as OciMount;
    if (isBindMount(m)) {
      if (!m.source) throw new UnsupportedError(`${field}.source: a bind mount needs a source`, { details: { field: `${field}.source` } });
      const source = resolve(input.bundle, m.source);
      if (source.includes(EMPTY_DIR_MARKER)) {
        // An emptyDir is scratch space of the pod: a tmpfs in the guest is
        // what it means, and faster than sharing a host directory over 9p.
        const opts = (m.options ?? []).filter((o) => !BIND_OPTS.has(o) && o !== "rprivate" && o !== "private");
        if (input.emptyDirSizeMib) opts.push(`size=${input.emptyDirSizeMib}m`);
        mounts.push({ ...copy, type: "tmpfs", source: "tmpfs", options: opts });
        continue;
      }
      const kind = input.kindOf(source);
      if (kind === "missing")
        throw new NotFoundError(`${field}.source: ${source}: no such file or directory`, { details: { field: `${field}.source` } });
      if (kind !== "dir" && kind !== "file") {
        throw new UnsupportedError(
          `${field}.source: ${source} is a ${kind}; only directories and regular files can be shared into the VM over 9p`,
          {
            details: { field: `${field}.source`, kind },
          },
        );
      }
      const readonly = (m.options ?? []).includes("ro");
      const recursive = m.type === "rbind" || (m.options ?? []).includes("rbind");
      // The share keeps the source's name, so the guest's mountinfo root
      // ends as the host's would (tools that match mounts by it find them).
      const name = `${index}/${basename(source) || "root"}`;
      const target = `${mountsDir(input.sandboxDir, input.containerId)}/${name}`;
      binds.push({ index, source, target, kind, recursive, readonly });
      mounts.push({ ...copy, type: "bind", source: `${input.guestShared}/${input.containerId}/mounts/${name}` });
      continue;
    }
    const type = m.type ?? "";
    if (guestTypes.has(type)) {
      mounts.push(copy);
      continue;
    }
    const why = m.source?.startsWith("/dev/")
      ? `a block device mount (${m.source}) needs a virtio-blk device, which husk does not attach`
      : `type "${type || "(none)"}" cannot be honoured inside the VM`;
    throw new UnsupportedError(`${field}.type: ${why}`, { details: { field: `${field}.type`, type } });
  }
  return { binds, mounts };
}

export const DEFAULT_GUEST_TYPES = ["tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2", "shm", "ramfs"] as const;
