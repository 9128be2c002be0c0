import { describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { PluginError, PolicyError } from "../../../src/host/errors.ts";
import type { OciSpec } from "../../../src/oci/spec.ts";
import { createLifecycle } from "../../../src/plugins/lifecycle.ts";
import policy from "../../../plugins/policy/index.ts";
import { baseSpec, containerCtx, tempDir } from "./helpers.ts";

const ISOLATED = ["pid", "ipc", "uts", "mount", "network"].map((type) => ({ type })) as NonNullable<OciSpec["linux"]>["namespaces"];

async function admit(options: Record<string, unknown>, spec: OciSpec, vm = { vcpus: 1, memory_mib: 512 }) {
  const lc = await createLifecycle({ config: { plugins: { policy: { enabled: true, options } }, hypervisor: vm }, bundled: [policy] });
  return lc.containerCreate(containerCtx(spec));
}

async function refusal(options: Record<string, unknown>, spec: OciSpec, vm?: { vcpus: number; memory_mib: number }) {
  const err = await admit(options, spec, vm).then(
    () => undefined,
    (e) => e,
  );
  expect(err).toBeInstanceOf(PolicyError);
  return err as InstanceType<typeof PolicyError>;
}

describe("policy plugin", () => {
  test("admits everything with no rules configured", async () => {
    const spec = baseSpec({ process: { user: { uid: 0, gid: 0 }, cwd: "/", capabilities: { bounding: ["CAP_SYS_ADMIN"] } } });
    await expect(admit({}, spec)).resolves.toBeDefined();
  });

  test("refuse_privileged: CAP_SYS_ADMIN in any set", async () => {
    const spec = baseSpec({
      process: { user: { uid: 0, gid: 0 }, cwd: "/", capabilities: { bounding: ["CAP_CHOWN"], effective: ["CAP_CHOWN", "CAP_SYS_ADMIN"] } },
    });
    const err = await refusal({ refuse_privileged: true }, spec);
    expect(err.message).toContain('rule "refuse_privileged"');
    expect(err.message).toContain("process.capabilities.effective[1]");
    expect(err.details).toMatchObject({ rule: "refuse_privileged", field: "process.capabilities.effective[1]", plugin: "policy" });
  });

  test("refuse_privileged: a device rule allowing every device", async () => {
    const spec = baseSpec({
      linux: {
        resources: {
          devices: [
            { allow: false, access: "rwm" },
            { allow: true, access: "rwm" },
          ],
        },
      },
    });
    const err = await refusal({ refuse_privileged: true }, spec);
    expect(err.message).toContain("linux.resources.devices[1]");
    expect(err.message).toContain("every device");
  });

  test("refuse_host_namespaces: a missing namespace means the host's", async () => {
    const spec = baseSpec({ linux: { namespaces: ISOLATED!.filter((n) => n.type !== "ipc") } });
    const err = await refusal({ refuse_host_namespaces: true }, spec);
    expect(err.message).toContain('rule "refuse_host_namespaces"');
    expect(err.message).toContain('no "ipc" namespace');
    expect(err.details?.field).toBe("linux.namespaces");
  });

  test("refuse_host_namespaces: a path to the host's own namespace; another netns is fine", async () => {
    const hostNet = baseSpec({
      linux: { namespaces: [...ISOLATED!.filter((n) => n.type !== "network"), { type: "network", path: `/proc/${process.pid}/ns/net` }] },
    });
    const err = await refusal({ refuse_host_namespaces: true }, hostNet);
    expect(err.message).toContain("linux.namespaces[4].path");
    expect(err.message).toContain("host's network namespace");
    await expect(admit({ refuse_host_namespaces: true }, baseSpec({ linux: { namespaces: ISOLATED } }))).resolves.toBeDefined();
  });

  test("allowed_host_paths: bind sources outside the list, symlinks resolved", async () => {
    const dir = tempDir();
    const allowed = join(dir, "allowed");
    mkdirSync(join(allowed, "data"), { recursive: true });
    symlinkSync("/etc", join(allowed, "sneaky"));
    const ok = baseSpec({ mounts: [{ destination: "/data", type: "bind", source: join(allowed, "data"), options: ["rbind"] }] });
    // Only policy here: storage would really mount.
    await expect(admit({ allowed_host_paths: [allowed] }, ok)).resolves.toBeDefined();
    const bad = baseSpec({
      mounts: [
        { destination: "/proc", type: "proc", source: "proc" },
        { destination: "/x", type: "none", source: join(allowed, "sneaky"), options: ["bind", "ro"] },
      ],
    });
    const err = await refusal({ allowed_host_paths: [allowed] }, bad);
    expect(err.message).toContain('rule "allowed_host_paths"');
    expect(err.message).toContain("mounts[1].source");
    expect(err.message).toContain("/etc is outside");
  });

  test("allowed_capabilities: added capabilities outside the list", async () => {
    const caps = (c: string[]) =>
      baseSpec({ process: { user: { uid: 0, gid: 0 }, cwd: "/", capabilities: { bounding: c, permitted: c } } });
    await expect(admit({ allowed_capabilities: ["CAP_NET_ADMIN"] }, caps(["CAP_CHOWN", "CAP_NET_ADMIN"]))).resolves.toBeDefined();
    const err = await refusal({ allowed_capabilities: ["CAP_NET_ADMIN"] }, caps(["CAP_CHOWN", "CAP_SYS_TIME"]));
    expect(err.message).toContain('rule "allowed_capabilities"');
    expect(err.message).toContain("process.capabilities.bounding[1]");
    expect(err.message).toContain("CAP_SYS_TIME");
  });

  test("allowed_rootfs_dirs: read from the bundle even after root.path was rewritten to the guest path", async () => {
    const spec = baseSpec();
    const ctx = containerCtx(spec);
    const lc = (dirs: string[]) =>
      createLifecycle({ config: { plugins: { policy: { enabled: true, options: { allowed_rootfs_dirs: dirs } } } }, bundled: [policy] });
    const guest = { ...ctx, spec: { ...spec, root: { path: `/run/husk/shared/${ctx.containerId}/rootfs` } } };
    await expect((await lc([ctx.bundle])).containerCreate(guest)).resolves.toBeDefined();
    const err = await (await lc(["/srv/images"])).containerCreate(guest).catch((e) => e);
    expect(err).toBeInstanceOf(PolicyError);
    expect(err.message).toContain('rule "allowed_rootfs_dirs" (root.path)');
    expect(err.message).toContain(`${ctx.bundle}/rootfs is outside`);
  });

  test("require_memory_limit and require_cpu_limit", async () => {
    const none = baseSpec();
    expect((await refusal({ require_memory_limit: true }, none)).details?.field).toBe("linux.resources.memory.limit");
    expect((await refusal({ require_cpu_limit: true }, none)).details?.field).toBe("linux.resources.cpu.quota");
    const limited = baseSpec({ linux: { resources: { memory: { limit: 64 << 20 }, cpu: { quota: 50_000, period: 100_000 } } } });
    await expect(admit({ require_memory_limit: true, require_cpu_limit: true }, limited)).resolves.toBeDefined();
  });

  test("max_vcpus / max_memory_mib cap container limits and the VM itself", async () => {
    const big = baseSpec({ linux: { resources: { memory: { limit: 2048 * 1048576 }, cpu: { quota: 300_000, period: 100_000 } } } });
    const cpu = await refusal({ max_vcpus: 2 }, big);
    expect(cpu.message).toContain('rule "max_vcpus" (linux.resources.cpu.quota): asks for 3 CPUs');
    const mem = await refusal({ max_memory_mib: 1024 }, big);
    expect(mem.message).toContain('rule "max_memory_mib" (linux.resources.memory.limit): asks for 2048 MiB');

    const lc = await createLifecycle({
      config: { plugins: { policy: { enabled: true, options: { max_vcpus: 2 } } }, hypervisor: { vcpus: 4, memory_mib: 512 } },
      bundled: [policy],
    });
    const err = await lc.sandboxPrestart({ sandboxId: "s", sandboxDir: tempDir() }).catch((e) => e);
    expect(err).toBeInstanceOf(PolicyError);
    expect(err.message).toContain('rule "max_vcpus" (hypervisor.vcpus)');
  });

  test("a refusal happens before storage does anything (policy runs first)", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "src"));
    const spec = baseSpec({
      mounts: [{ destination: "/d", type: "bind", source: join(dir, "src") }],
      process: { user: { uid: 0, gid: 0 }, cwd: "/", capabilities: { bounding: ["CAP_SYS_ADMIN"] } },
    });
    const storage = (await import("../../../plugins/storage/index.ts")).default;
    const lc = await createLifecycle({
      config: { plugins: { policy: { enabled: true, options: { refuse_privileged: true } } } },
      bundled: [policy, storage],
    });
    const ctx = containerCtx(spec);
    await expect(lc.containerCreate(ctx)).rejects.toBeInstanceOf(PolicyError);
    expect(await Bun.file(join(ctx.sandboxDir, "shared", ctx.containerId, "mounts")).exists()).toBe(false);
  });

  test("invalid policy options name the key", async () => {
    const err = await createLifecycle({
      config: { plugins: { policy: { enabled: true, options: { allowed_host_paths: ["relative/path"] } } } },
      bundled: [policy],
    }).catch((e) => e);
    expect(err).toBeInstanceOf(PluginError);
    expect(err.message).toContain('invalid option "allowed_host_paths[0]"');
  });
});

describe("policy: VM size as the core will boot it", () => {
  test("sandbox prestart checks the size the core passes (limits and overrides applied), not a recomputed one", async () => {
    const lc = await createLifecycle({
      config: { plugins: { policy: { enabled: true, options: { max_memory_mib: 1024 } } }, hypervisor: { vcpus: 1, memory_mib: 512 } },
      bundled: [policy],
    });
    const small = baseSpec({ linux: { resources: { memory: { limit: 256 * 1048576 } } } });
    await expect(
      lc.sandboxPrestart({ sandboxId: "s", sandboxDir: tempDir(), spec: small, vm: { vcpus: 1, memoryMiB: 768 } }),
    ).resolves.toBeUndefined();
    // The core grew the VM by the container's limit (or a caller's override did): 1280 MiB is over the cap.
    const err = await lc
      .sandboxPrestart({ sandboxId: "s", sandboxDir: tempDir(), spec: small, vm: { vcpus: 1, memoryMiB: 1280 } })
      .catch((e) => e);
    expect(err).toBeInstanceOf(PolicyError);
    expect(err.message).toContain("the VM would have 1280 MiB");
  });

  test("without a size from the core, the configured base size is checked", async () => {
    const lc = await createLifecycle({
      config: { plugins: { policy: { enabled: true, options: { max_memory_mib: 256 } } }, hypervisor: { vcpus: 1, memory_mib: 512 } },
      bundled: [policy],
    });
    const err = await lc.sandboxPrestart({ sandboxId: "s", sandboxDir: tempDir(), spec: baseSpec({}) }).catch((e) => e);
    expect(err).toBeInstanceOf(PolicyError);
    expect(err.message).toContain("the VM would have 512 MiB");
  });
});
