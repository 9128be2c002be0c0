import { describe, expect, test } from "bun:test";
import { GROUP, MODULE_ORDER_PATH, PASSWD, planInitramfs } from "../../../src/image/initramfs-plan.ts";

const inputs = () => ({
  init: "#!/bin/sh\necho hi\n",
  busybox: { source: "/bin/busybox", dest: "/bin/busybox", mode: 0o755, size: 100 },
  applets: ["bin/sh", "sbin/switch_root", "usr/bin/env", "bin/busybox"],
  files: [
    { source: "/usr/bin/crun", dest: "/usr/bin/crun", mode: 0o755, size: 10 },
    { source: "/lib/x86_64-linux-gnu/libc.so.6", dest: "/lib/x86_64-linux-gnu/libc.so.6", mode: 0o755, size: 20 },
    { source: "/lib64/ld-linux-x86-64.so.2", dest: "/lib64/ld-linux-x86-64.so.2", mode: 0o755, size: 5 },
  ],
  moduleOrder: [] as string[],
});

describe("planInitramfs", () => {
  test("layout: init, busybox + applet links, crun, libraries under their ldd paths, console node", () => {
    const plan = planInitramfs(inputs());
    const byPath = new Map(plan.entries.map((e) => [e.path, e]));
    expect(byPath.get("init")).toEqual({ kind: "file", path: "init", mode: 0o755, size: 18 });
    expect(byPath.get("bin/sh")).toEqual({ kind: "symlink", path: "bin/sh", target: "/bin/busybox" });
    expect(byPath.get("sbin/switch_root")).toMatchObject({ kind: "symlink" });
    expect(byPath.get("bin/busybox")).toMatchObject({ kind: "file" }); // the applet link never replaces busybox
    expect(byPath.get("usr/bin/crun")).toMatchObject({ kind: "file", mode: 0o755 });
    expect(byPath.get("lib64/ld-linux-x86-64.so.2")).toMatchObject({ kind: "file" });
    expect(byPath.get("lib/x86_64-linux-gnu")).toMatchObject({ kind: "dir" });
    expect(byPath.get("dev/console")).toEqual({ kind: "char", path: "dev/console", mode: 0o600, major: 5, minor: 1 });
    for (const d of ["proc", "sys", "dev", "run", "husk", "newroot", "tmp"]) expect(byPath.get(d)?.kind).toBe("dir");
    expect(byPath.get("tmp")).toMatchObject({ mode: 0o1777 });
    expect(plan.sources.get("etc/passwd")).toEqual({ text: PASSWD });
    expect(plan.sources.get("etc/group")).toEqual({ text: GROUP });
    expect(plan.sources.get("usr/bin/crun")).toEqual({ hostPath: "/usr/bin/crun" });
    expect(byPath.has(MODULE_ORDER_PATH)).toBe(false);
  });

  test("every file and link has its parent directory before it", () => {
    const plan = planInitramfs(inputs());
    const seen = new Set<string>();
    for (const e of plan.entries) {
      const parent = e.path.split("/").slice(0, -1).join("/");
      if (parent) expect(seen.has(parent)).toBe(true);
      seen.add(e.path);
    }
  });

  test("fallback modules are copied and their load order written for the init", () => {
    const mods = ["/lib/modules/6.1/kernel/drivers/virtio/virtio.ko", "/lib/modules/6.1/kernel/fs/9p/9p.ko"];
    const i = inputs();
    i.files.push(...mods.map((m) => ({ source: m, dest: m, mode: 0o644, size: 1 })));
    i.moduleOrder = mods;
    const plan = planInitramfs(i);
    expect(plan.sources.get(MODULE_ORDER_PATH)).toEqual({ text: `${mods[0]}\n${mods[1]}\n` });
    expect(plan.entries.some((e) => e.path === "lib/modules/6.1/kernel/fs/9p/9p.ko")).toBe(true);
  });

  test("same inputs in another order give the same plan", () => {
    const a = planInitramfs(inputs());
    const i = inputs();
    i.files.reverse();
    i.applets.reverse();
    expect(planInitramfs(i).entries).toEqual(a.entries);
  });
});
