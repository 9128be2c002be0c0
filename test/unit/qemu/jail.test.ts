import { describe, expect, test } from "bun:test";
import { HypervisorError } from "../../../src/host/errors.ts";
import { buildLaunchCommand, type Confinement, QEMU_CAPABILITIES, QEMU_RLIMITS } from "../../../src/hypervisor/qemu/args.ts";
import { buildJailPrefix, JAIL_SCRIPT, jailPaths, type RootView } from "../../../src/hypervisor/qemu/jail.ts";
import type { VmSpec } from "../../../src/hypervisor/types.ts";

/** QEMU's own mount namespace: the pure argv (docs/security.md). The e2e test looks inside a running one. */

const view: RootView = {
  sh: "/usr/bin/sh",
  jailDir: "/run/husk-qemu-jail",
  links: [
    { path: "/bin", target: "usr/bin" },
    { path: "/lib64", target: "usr/lib64" },
  ],
  dirs: ["/usr"],
  files: ["/etc/ld.so.cache"],
  devices: ["/dev/null", "/dev/net/tun"],
};

const spec = (over: Partial<VmSpec> = {}): VmSpec => ({
  sandboxId: "sb1",
  dir: "/run/husk/sandboxes/sb1",
  sharedDir: "/run/husk/sandboxes/sb1/shared",
  binary: "qemu-system-x86_64",
  kernel: "/img/vmlinux",
  initrd: "/img/initramfs.cpio",
  agentDir: "/img/agent",
  machine: "microvm",
  accelerator: "auto",
  vcpus: 1,
  memoryMiB: 512,
  kernelParams: [],
  bootTimeoutMs: 60000,
  consoleLog: "/run/husk/sandboxes/sb1/console.log",
  qmpSocket: "/run/husk/sandboxes/sb1/qmp.sock",
  agentSocket: "/run/husk/sandboxes/sb1/agent.sock",
  ...over,
});

/** The ops between the jail dir and the "--" that ends them. */
function ops(argv: string[]): string[] {
  const start = argv.indexOf("husk-qemu-jail") + 2;
  return argv.slice(start, argv.indexOf("--", start));
}

describe("jailPaths", () => {
  test("image files read-only, the sandbox directory read-write, the share recursive", () => {
    expect(jailPaths(spec(), "/usr/bin/qemu-system-x86_64")).toEqual({
      ro: ["/img/vmlinux", "/img/initramfs.cpio", "/img/agent"],
      rw: ["/run/husk/sandboxes/sb1"],
      rec: ["/run/husk/sandboxes/sb1/shared"],
    });
  });
  test("a clone's template directory read-write (its RAM file); a template's is its own directory", () => {
    expect(jailPaths(spec({ template: { mode: "restore", dir: "/dev/shm/f/k" } }), "/usr/bin/q").rw).toEqual([
      "/run/husk/sandboxes/sb1",
      "/dev/shm/f/k",
    ]);
    const b = "/dev/shm/f/b";
    expect(
      jailPaths(
        spec({ dir: b, qmpSocket: `${b}/qmp.sock`, agentSocket: `${b}/agent.sock`, template: { mode: "save", dir: b } }),
        "/usr/bin/q",
      ).rw,
    ).toEqual([b]);
  });
  test("sockets moved out of a long sandbox dir (src/sockets.ts): their own directory read-write, nothing wider", () => {
    const s = "/run/containerd/runc/k8s.io/sockets/0123456789abcdef01234567";
    expect(jailPaths(spec({ qmpSocket: `${s}/qmp.sock`, agentSocket: `${s}/agent.sock` }), "/usr/bin/q").rw).toEqual([
      "/run/husk/sandboxes/sb1",
      s,
    ]);
  });
  test("a QEMU outside /usr: its directory read-only; a disk image read-only", () => {
    expect(jailPaths(spec({ image: "/img/root.img" }), "/opt/qemu/bin/qemu-system-x86_64").ro).toEqual([
      "/img/vmlinux",
      "/img/initramfs.cpio",
      "/img/root.img",
      "/img/agent",
      "/opt/qemu/bin",
    ]);
  });
});

describe("buildJailPrefix", () => {
  const paths = jailPaths(spec(), "/usr/bin/qemu-system-x86_64");
  test("unshare a mount namespace whose mounts are slaves of the host's, sh with the script and every path as an argument", () => {
    const argv = buildJailPrefix("/usr/bin/unshare", view, paths, true);
    expect(argv.slice(0, 9)).toEqual([
      "/usr/bin/unshare",
      "--mount",
      "--propagation",
      "slave",
      "--net",
      "--",
      "/usr/bin/sh",
      "-c",
      JAIL_SCRIPT,
    ]);
    expect(argv.slice(9, 11)).toEqual(["husk-qemu-jail", "/run/husk-qemu-jail"]);
    expect(argv.at(-1)).toBe("--");
    // No path ever appears in the script itself.
    for (const p of ["/usr", "/img", "/run/husk", "/dev/null"]) expect(JAIL_SCRIPT).not.toContain(p);
  });
  test("links first, then binds parents before children (a later parent bind would hide a child)", () => {
    const o = ops(
      buildJailPrefix("/usr/bin/unshare", view, jailPaths(spec({ agentDir: "/run/husk/sandboxes/sb1/agent" }), "/usr/bin/q"), true),
    );
    expect(o).toEqual([
      "link",
      "/bin",
      "usr/bin",
      "link",
      "/lib64",
      "usr/lib64",
      "ro",
      "/usr",
      "ro",
      "/etc/ld.so.cache",
      "dev",
      "/dev/null",
      "ro",
      "/img/vmlinux",
      "ro",
      "/img/initramfs.cpio",
      "dev",
      "/dev/net/tun",
      "rw",
      "/run/husk/sandboxes/sb1",
      "ro",
      "/run/husk/sandboxes/sb1/agent",
      "rec",
      "/run/husk/sandboxes/sb1/shared",
    ]);
  });
  test("with the container's netns joined (nsenter), no new network namespace", () => {
    expect(buildJailPrefix("/usr/bin/unshare", view, paths, false).slice(0, 5)).toEqual([
      "/usr/bin/unshare",
      "--mount",
      "--propagation",
      "slave",
      "--",
    ]);
  });
  test("relative paths, .., NUL or a bare -- are refused", () => {
    for (const bad of ["img/vmlinux", "/img/../etc/shadow", "/img/\0x", "--"]) {
      expect(() => buildJailPrefix("/usr/bin/unshare", view, { ...paths, ro: [bad] }, true)).toThrow(HypervisorError);
    }
    expect(() => buildJailPrefix("/usr/bin/unshare", { ...view, links: [{ path: "/bin", target: "--" }] }, paths, true)).toThrow(
      HypervisorError,
    );
  });
  test("the script: tmpfs root read-only, read-only proc with hidepid, pivot_root, old root detached, exec", () => {
    expect(JAIL_SCRIPT).toContain('mount -t tmpfs -o mode=0755,nosuid,size=1m husk-qemu "$R"');
    expect(JAIL_SCRIPT).toContain('mount -t proc -o ro,nosuid,nodev,noexec,hidepid=invisible proc "$R/proc"');
    expect(JAIL_SCRIPT).toContain('mount -o remount,ro,nosuid "$R"');
    expect(JAIL_SCRIPT).toMatch(/pivot_root \. \.\numount -l \.\ncd \/\nunset PWD OLDPWD\nexec "\$@"$/);
  });
});

describe("buildLaunchCommand with a jail", () => {
  const c: Confinement = {
    unshare: "/usr/bin/unshare",
    prlimit: "/usr/bin/prlimit",
    setpriv: "/usr/bin/setpriv",
    capabilities: QEMU_CAPABILITIES,
    ...QEMU_RLIMITS,
    uid: 1_500_000_042,
    root: view,
  };
  test("no NICs: unshare --mount --net, the jail script, then prlimit, setpriv, QEMU", () => {
    const argv = buildLaunchCommand("/usr/bin/qemu", ["-m", "1"], spec(), "nsenter", c);
    expect(argv.slice(0, 6)).toEqual(["/usr/bin/unshare", "--mount", "--propagation", "slave", "--net", "--"]);
    const rest = argv.slice(argv.lastIndexOf("--", argv.indexOf("/usr/bin/prlimit")) + 1);
    expect(rest[0]).toBe("/usr/bin/prlimit");
    expect(argv.slice(-3)).toEqual(["/usr/bin/qemu", "-m", "1"]);
  });
  test("NICs: nsenter into the container's netns first, then the mount namespace only", () => {
    const network = { netns: "/run/netns/x", nics: [{ tap: "tap0" }] };
    const argv = buildLaunchCommand("/usr/bin/qemu", [], spec({ network }), "/usr/bin/nsenter", c);
    expect(argv.slice(0, 8)).toEqual([
      "/usr/bin/nsenter",
      "--net=/run/netns/x",
      "--",
      "/usr/bin/unshare",
      "--mount",
      "--propagation",
      "slave",
      "--",
    ]);
  });
  test("without a whole spec (husk check's probe passes {}) or without a root view: no jail, the netns only", () => {
    expect(buildLaunchCommand("/usr/bin/qemu", [], {}, "nsenter", c).slice(0, 3)).toEqual(["/usr/bin/unshare", "--net", "--"]);
    expect(buildLaunchCommand("/usr/bin/qemu", [], spec(), "nsenter", { ...c, root: undefined }).slice(0, 3)).toEqual([
      "/usr/bin/unshare",
      "--net",
      "--",
    ]);
  });
});
