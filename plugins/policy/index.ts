import { realpathSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { definePlugin, PolicyError } from "../../src/plugins/api.ts";
import { PolicyOptionsSchema } from "./options.ts";
import { checkVm, evaluate, type Env, type Violation } from "./rules.ts";

/**
 * policy: admit or refuse a container at `policy:admit`, the first thing
 * done at create (before storage or network touch anything, so a refusal
 * leaves nothing behind), and refuse an oversized VM at `policy:sandbox`.
 */

function refuse(v: Violation): never {
  throw new PolicyError(`policy refused: rule "${v.rule}" (${v.field}): ${v.message}`, {
    details: { rule: v.rule, field: v.field },
  });
}

/** Realpath when the path exists (a symlink must not smuggle a path in), plain resolve otherwise. */
function realpath(bundle: string, p: string): string {
  const abs = resolve(bundle, p);
  try {
    return realpathSync(abs);
  } catch {
    return abs;
  }
}

/**
 * The same namespace (inode and device) as init's or husk's own: husk runs in
 * the host's namespaces, and where /proc/1/ns is not readable (husk itself in
 * a container) its own are what a container would share.
 */
function isHostNamespace(type: string, path: string): boolean {
  const name = { network: "net", mount: "mnt" }[type] ?? type;
  const id = (p: string) => {
    try {
      const s = statSync(p);
      return `${s.dev}:${s.ino}`;
    } catch {
      return undefined;
    }
  };
  const target = id(path);
  return target !== undefined && (target === id(`/proc/1/ns/${name}`) || target === id(`/proc/self/ns/${name}`));
}

export default definePlugin({
  name: "policy",
  description: "admit or refuse containers by rules (privileged, host namespaces, mounts, capabilities, rootfs, limits, VM size)",
  options: PolicyOptionsSchema,
  hooks: {
    "policy:sandbox"(ctx) {
      const v = checkVm(ctx.vm, ctx.options);
      if (v) refuse(v);
    },
    "policy:admit"(ctx) {
      const env: Env = {
        ...(ctx.rootfs !== undefined ? { rootfs: ctx.rootfs } : {}),
        vm: ctx.vm,
        realpath: (p) => realpath(ctx.bundle, p),
        isHostNamespace,
      };
      const v = evaluate(ctx.spec, ctx.options, env);
      if (v) refuse(v);
      ctx.log.debug(`admitted ${ctx.containerId}`);
    },
  },
});
