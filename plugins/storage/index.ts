import { resolve } from "node:path";
import { definePlugin, v } from "../../src/plugins/api.ts";
import { GUEST_SHARED_DIR } from "../../src/plugins/rootfs.ts";
import { bindMount, kindOf, unmountAll } from "./mount.ts";
import { DEFAULT_GUEST_TYPES, mountsDir, planStorage, type SourceKind } from "./plan.ts";

/**
 * storage: map the OCI mounts into the guest at `storage:mount` (create) and
 * undo them at `storage:unmount` (poststop, or a failed create). Host binds
 * are bind-mounted under the sandbox's 9p share and the spec is amended to
 * the guest path; virtual filesystems are left for the guest to create.
 */

const StorageOptionsSchema = v.strictObject({
  /** Filesystem types mounted inside the guest as the spec says. */
  guest_fs_types: v.optional(v.array(v.pipe(v.string(), v.minLength(1))), [...DEFAULT_GUEST_TYPES]),
  /** Size limit of the guest tmpfs that replaces a Kubernetes emptyDir (absent: tmpfs default, half the guest RAM). */
  empty_dir_size_mib: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
});

export default definePlugin({
  name: "storage",
  description: "share bind mounts into the VM over 9p, guest-side virtual filesystems, emptyDir as guest tmpfs",
  options: StorageOptionsSchema,
  hooks: {
    async "storage:mount"(ctx) {
      const mounts = ctx.spec.mounts ?? [];
      if (!mounts.length) return;
      // Stat every source first (planStorage is pure and synchronous).
      const kinds = new Map<string, SourceKind>();
      for (const m of mounts) {
        if (!m.source) continue;
        const p = resolve(ctx.bundle, m.source);
        kinds.set(p, await kindOf(p));
      }
      const plan = planStorage({
        mounts,
        bundle: ctx.bundle,
        sandboxDir: ctx.sandboxDir,
        containerId: ctx.containerId,
        guestShared: GUEST_SHARED_DIR,
        guestTypes: ctx.options.guest_fs_types,
        ...(ctx.options.empty_dir_size_mib ? { emptyDirSizeMib: ctx.options.empty_dir_size_mib } : {}),
        kindOf: (p) => kinds.get(p) ?? "missing",
      });
      try {
        for (const b of plan.binds) {
          ctx.log.debug(`bind ${b.source} -> ${b.target}${b.readonly ? " (ro)" : ""}`);
          await bindMount(b, ctx.run);
        }
      } catch (e) {
        await unmountAll(mountsDir(ctx.sandboxDir, ctx.containerId)).catch((u) => ctx.log.warn(String(u)));
        throw e;
      }
      ctx.amend((spec) => {
        spec.mounts = plan.mounts;
      });
    },
    async "storage:unmount"(ctx) {
      await unmountAll(mountsDir(ctx.sandboxDir, ctx.containerId));
    },
  },
});
