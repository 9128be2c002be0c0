import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { QEMU_CAPABILITIES, QEMU_RLIMITS, QEMU_SANDBOX, QEMU_UID_BASE } from "../../src/hypervisor/qemu/args.ts";
import { capabilityMask, parseProcLimit, parseProcStatus } from "../../src/hypervisor/qemu/confine.ts";
import { alive, canRun, ensureTemplate, husk, makeBundle, makeEnv, waitFor, type E2eEnv } from "./env.ts";

/**
 * QEMU confined (docs/security.md), read from /proc/<qemu pid> of running
 * sandboxes: seccomp filter (Seccomp: 2), no_new_privs, capabilities cut to
 * chown/dac_override/fowner/fsetid, rlimits, empty environment — for a
 * clone of a VM template, a cold boot and a VM with a NIC in a network
 * namespace (nsenter before the drop). And what the confinement must not
 * break: 9p writes, chown, chmod and set-gid bits in the rootfs, the QMP
 * `quit`, `pause`/`resume`, the tap.
 */

let env: E2eEnv;
const T = 300_000;
const WANT_CAPS = capabilityMask(QEMU_CAPABILITIES);

function vmState(id: string): {
  monitorPid: number;
  qemuPid?: number;
  boot?: { mode: string };
  state: string;
  exit?: { code: number | null; signal: string | null };
} {
  return JSON.parse(readFileSync(join(env.root, "sandboxes", id, "vm-state.json"), "utf8"));
}

function qemuPid(id: string): number {
  const pid = JSON.parse(readFileSync(join(env.root, "sandboxes", id, "qemu.pid"), "utf8")).pid as number;
  expect(readFileSync(`/proc/${pid}/comm`, "utf8").trim()).toBe("qemu-system-x86");
  return pid;
}

/** Everything the confinement promises, read from /proc/<pid> (id: its sandbox, whose monitor owns it). */
function expectConfined(pid: number, id: string): void {
  const statusText = readFileSync(`/proc/${pid}/status`, "utf8");
  // The lines the issue asks for, in the test log.
  console.log(
    `qemu ${pid}: ${statusText
      .split("\n")
      .filter((l) => /^(Uid|Seccomp|NoNewPrivs|Cap(Eff|Prm|Bnd|Inh|Amb)):/.test(l))
      .join(" | ")
      .replaceAll("\t", " ")}`,
  );
  const s = parseProcStatus(statusText);
  expect(s.seccomp).toBe(2);
  expect(s.noNewPrivs).toBe(true);
  expect(s.capEff).toBe(WANT_CAPS);
  expect(s.capPrm).toBe(WANT_CAPS);
  expect(s.capBnd).toBe(WANT_CAPS);
  // A uid of its own (QEMU_UID_BASE + its monitor's pid), the four capabilities kept as ambient ones.
  expect(s.uid).toBe(QEMU_UID_BASE + vmState(id).monitorPid);
  expect(statusText).toMatch(/^Groups:\s*$/m);
  expect(s.capInh).toBe(WANT_CAPS);
  expect(s.capAmb).toBe(WANT_CAPS);
  const limits = readFileSync(`/proc/${pid}/limits`, "utf8");
  expect(parseProcLimit(limits, "Max open files")).toEqual({ soft: QEMU_RLIMITS.nofile, hard: QEMU_RLIMITS.nofile });
  expect(parseProcLimit(limits, "Max processes")).toEqual({ soft: QEMU_RLIMITS.nproc, hard: QEMU_RLIMITS.nproc });
  expect(readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean)).toEqual(["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]);
  expect(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")).toContain(QEMU_SANDBOX);
}

/**
 * Its own mount namespace: a read-only tmpfs root with /usr, the library
 * links, /etc/ld.so.cache, the image files, its sandbox directory (and the
 * container's rootfs in the share, propagated), a few device nodes, and a
 * read-only proc that shows only its own processes.
 */
function expectJailed(pid: number, id: string, cid = id): void {
  expect(statSync(`/proc/${pid}/ns/mnt`).ino).not.toBe(statSync("/proc/self/ns/mnt").ino);
  const dir = join(env.root, "sandboxes", id);
  const inside = (script: string) => {
    const r = Bun.spawnSync(["nsenter", `--mount=/proc/${pid}/ns/mnt`, "--", "sh", "-c", script], { stdout: "pipe", stderr: "pipe" });
    return r.stdout.toString().trim();
  };
  expect(inside("ls -A /etc")).toBe("ld.so.cache");
  // The device nodes it may open, and /dev/shm only on the way to a clone's template directory.
  const devs = inside("ls -A /dev").split("\n");
  expect(devs).toContain("null");
  for (const d of devs) expect(["full", "kvm", "net", "null", "random", "urandom", "zero", "vhost-net", "vhost-vsock", "shm"]).toContain(d);
  expect(inside("ls -A /dev/shm 2>/dev/null | grep -v '^husk-' | wc -l")).toBe("0");
  expect(inside("test -e /root || test -e /home || test -e /var/log || test -e /etc/passwd || echo hidden")).toBe("hidden");
  expect(inside(`test -S ${dir}/qmp.sock && test -d ${dir}/shared/${cid}/rootfs/bin && echo seen`)).toBe("seen");
  const mounts = inside("cat /proc/self/mountinfo");
  expect(mounts).toMatch(/ \/ ro,nosuid[^ ]* - tmpfs husk-qemu /);
  expect(mounts).toMatch(/ \/proc ro,[^ ]* - proc proc [^\n]*hidepid=invisible/);
  expect(mounts).toMatch(/ \/usr ro,/);
}

/** A VM without NICs: a network namespace of its own, not the host's. */
function expectOwnNetns(pid: number): void {
  expect(statSync(`/proc/${pid}/ns/net`).ino).not.toBe(statSync("/proc/self/ns/net").ino);
  const dev = readFileSync(`/proc/${pid}/net/dev`, "utf8");
  expect(
    dev
      .split("\n")
      .slice(2)
      .filter(Boolean)
      .map((l) => l.trim().split(":")[0]),
  ).toEqual(["lo"]);
}

/**
 * One QMP command on a clone's second QMP socket (the one the template's
 * state fd is handed over on; free once the clone runs — the first one is
 * the monitor's, and a QEMU socket chardev serves one client at a time).
 */
async function qmp(id: string, command: string): Promise<void> {
  const sock = connect(join(env.root, "sandboxes", id, "qmp-fd.sock"));
  let buf = "";
  const lines: string[] = [];
  sock.on("data", (d) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  await waitFor(() => lines.some((l) => l.includes('"QMP"')) || undefined, 10_000, "qmp greeting");
  sock.write(`${JSON.stringify({ execute: "qmp_capabilities" })}\n`);
  await waitFor(() => lines.some((l) => l.includes('"return"')) || undefined, 10_000, "qmp_capabilities");
  sock.write(`${JSON.stringify({ execute: command })}\n`);
  await waitFor(() => lines.filter((l) => l.includes('"return"')).length >= 2 || sock.closed || undefined, 10_000, `qmp ${command}`);
  sock.destroy();
}

const WRITES = [
  't() { n=$1; shift; if "$@" >/dev/null 2>&1; then echo "$n ok"; else echo "$n FAIL"; fi; }',
  "t write_new sh -c 'echo a > /newfile'",
  "t write_0444 sh -c 'echo b > /ro'",
  "t write_other_uid sh -c 'echo c >> /u1000'",
  "t chown chown 1000:1000 /newfile",
  "t chmod_other chmod 0640 /u1000",
  "t utime_other touch -d 2001-01-01 /u1000",
  "echo x > /g; chgrp 1000 /g; chmod 2755 /g",
  'echo "g $(stat -c %a /g)"',
  "t hardlink_other ln /u1000 /hl",
  "t mkdir_rename sh -c 'mkdir /d && mv /d /d2'",
  "su -s /bin/sh nobody -c 'echo n > /tmp/bynobody' ; echo \"nobody $(stat -c %u:%g /tmp/bynobody)\"",
].join("\n");

describe.skipIf(!canRun)("QEMU confined", () => {
  beforeAll(() => {
    env = makeEnv("confine");
    ensureTemplate(env); // the first sandbox is a clone: the template was built confined, the clone restores confined
  });
  afterAll(async () => {
    await env.cleanup();
  });

  test("a clone of a template: seccomp, no_new_privs, capabilities, rlimits; pause/resume and QMP quit work under the filter", {
    timeout: T,
  }, async () => {
    const bundle = makeBundle(env, "b1", ["sleep", "1000"]);
    expect((await husk(env, ["create", "--bundle", bundle, "c1"])).code).toBe(0);
    expect(vmState("c1").boot?.mode).toBe("clone");
    const pid = qemuPid("c1");
    expectConfined(pid, "c1");
    expectOwnNetns(pid);
    expectJailed(pid, "c1");

    // Another sandbox's QEMU (the same capabilities, another uid) cannot read this one's memory or
    // environment; only the same uid could (ptrace rules: uid, then capabilities).
    const uid = QEMU_UID_BASE + vmState("c1").monitorPid;
    const as = (u: number) =>
      Bun.spawnSync(
        [
          "setpriv",
          "--no-new-privs",
          `--reuid=${u}`,
          `--regid=${u}`,
          "--clear-groups",
          ...["--inh-caps", "--ambient-caps", "--bounding-set"].map((o) => `${o}=-all,+chown,+dac_override,+fowner,+fsetid`),
          "--",
          "head",
          "-c",
          "1",
          `/proc/${pid}/mem`,
          `/proc/${pid}/environ`,
        ],
        { stdout: "pipe", stderr: "pipe" },
      );
    const other = as(uid + 1);
    expect(other.exitCode).not.toBe(0);
    expect(other.stderr.toString()).toContain("Permission denied");
    expect(as(uid).stderr.toString()).not.toContain(`/proc/${pid}/environ: Permission denied`);

    expect((await husk(env, ["start", "c1"])).code).toBe(0);
    expect((await husk(env, ["pause", "c1"])).code).toBe(0);
    expect((await husk(env, ["resume", "c1"])).code).toBe(0);
    expect((await husk(env, ["exec", "c1", "true"])).code).toBe(0);

    // QMP quit, the monitor's last step at every stop, is not stopped by the filter: QEMU exits 0, not killed.
    await qmp("c1", "quit");
    await waitFor(() => !alive(pid) || undefined, 30_000, "qemu to quit");
    const st = await waitFor(() => (vmState("c1").exit ? vmState("c1") : undefined), 30_000, "exit recorded");
    expect(st.exit).toEqual({ code: 0, signal: null });
    expect((await husk(env, ["delete", "--force", "c1"])).code).toBe(0);
  });

  test("the 9p rootfs takes writes, chown, chmod, set-gid bits through the confined QEMU", { timeout: T }, async () => {
    const bundle = makeBundle(env, "b2", ["sh", "/t.sh"]);
    const rootfs = join(bundle, "rootfs");
    const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
    spec.root.readonly = false;
    // podman's default capabilities: what a container root has to exercise QEMU's on the share.
    const caps = [
      "CAP_CHOWN",
      "CAP_DAC_OVERRIDE",
      "CAP_FOWNER",
      "CAP_FSETID",
      "CAP_KILL",
      "CAP_SETGID",
      "CAP_SETUID",
      "CAP_NET_BIND_SERVICE",
    ];
    for (const k of ["bounding", "effective", "permitted"]) spec.process.capabilities[k] = caps;
    writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
    writeFileSync(join(rootfs, "t.sh"), WRITES);
    writeFileSync(join(rootfs, "ro"), "ro\n", { mode: 0o444 });
    writeFileSync(join(rootfs, "u1000"), "u\n");
    Bun.spawnSync(["chown", "1000:1000", join(rootfs, "u1000")]);
    writeFileSync(join(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n");
    writeFileSync(join(rootfs, "etc", "group"), "root:x:0:\nnogroup:x:65534:\n");
    Bun.spawnSync(["chmod", "1777", join(rootfs, "tmp")]);

    const run = await husk(env, ["run", "--bundle", bundle, "w1"]);
    expect(run.code).toBe(0);
    for (const name of [
      "write_new",
      "write_0444",
      "write_other_uid",
      "chown",
      "chmod_other",
      "utime_other",
      "hardlink_other",
      "mkdir_rename",
    ]) {
      expect(run.stdout).toContain(`${name} ok`);
    }
    expect(run.stdout).toContain("g 2755"); // without CAP_FSETID QEMU's chmod drops the set-gid bit silently
    expect(run.stdout).toContain("nobody 65534:65534"); // without CAP_CHOWN files the guest creates stay root's
    // On the host, as the guest asked.
    expect(statSync(join(rootfs, "newfile")).uid).toBe(1000);
    expect(statSync(join(rootfs, "g")).mode & 0o7777).toBe(0o2755);
    expect(readFileSync(join(rootfs, "ro"), "utf8")).toBe("b\n");
    expect(statSync(join(rootfs, "tmp", "bynobody")).uid).toBe(65534);
  });

  test("a cold-booted VM (templates off) is confined the same", { timeout: T }, async () => {
    writeFileSync(env.config, `${readFileSync(env.config, "utf8")}[factory]\ntemplate = false\n`);
    try {
      const bundle = makeBundle(env, "b4", ["sleep", "1000"]);
      expect((await husk(env, ["create", "--bundle", bundle, "c4"])).code).toBe(0);
      expect(vmState("c4").boot?.mode).toBe("cold");
      expectConfined(qemuPid("c4"), "c4");
      expectJailed(qemuPid("c4"), "c4");
      expectOwnNetns(qemuPid("c4"));
      expect((await husk(env, ["delete", "--force", "c4"])).code).toBe(0);
    } finally {
      writeFileSync(env.config, readFileSync(env.config, "utf8").replace("[factory]\ntemplate = false\n", ""));
    }
  });
});

const haveNetTools = !!Bun.which("ip") && !!Bun.which("nsenter") && process.getuid?.() === 0;
const NS = `husk-e2e-conf-${process.pid}`;
const HOST_IF = `hkc${process.pid % 100000}`;
const sh = (cmd: string) => Bun.spawnSync(["sh", "-c", cmd], { stdout: "pipe", stderr: "pipe" });

describe.skipIf(!canRun || !haveNetTools)("QEMU confined with a NIC (nsenter, then the drop)", () => {
  let netEnv: E2eEnv;
  beforeAll(() => {
    netEnv = makeEnv("confine-net");
    ensureTemplate(netEnv, 1);
    const r = sh(
      `ip netns add ${NS} && ip link add ${HOST_IF} type veth peer name eth0 netns ${NS} && ip -n ${NS} link set eth0 up && ip -n ${NS} addr add 10.231.9.2/24 dev eth0`,
    );
    if (r.exitCode !== 0) throw new Error(`netns setup failed: ${r.stderr.toString()}`);
  });
  afterAll(async () => {
    await netEnv.cleanup();
    sh(`ip link del ${HOST_IF}; ip netns del ${NS}`);
  });

  test("QEMU in the container's netns holds its tap without CAP_NET_ADMIN", { timeout: T }, async () => {
    const bundle = makeBundle(netEnv, "n1", ["sleep", "1000"]);
    const file = join(bundle, "config.json");
    const spec = JSON.parse(readFileSync(file, "utf8"));
    spec.linux.namespaces = spec.linux.namespaces.filter((n: { type: string }) => n.type !== "network");
    spec.linux.namespaces.push({ type: "network", path: `/var/run/netns/${NS}` });
    writeFileSync(file, JSON.stringify(spec));
    const created = await husk(netEnv, ["create", "--bundle", bundle, "n1"]);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    const prev = env;
    env = netEnv;
    try {
      const pid = qemuPid("n1");
      expectConfined(pid, "n1");
      expectJailed(pid, "n1");
      // In the netns, with the tap open.
      expect(statSync(`/proc/${pid}/ns/net`).ino).toBe(statSync(`/var/run/netns/${NS}`).ino);
      const fds = Bun.spawnSync(["ls", "-l", `/proc/${pid}/fd`]).stdout.toString();
      expect(fds).toContain("/dev/net/tun");
      expect(parseProcStatus(readFileSync(`/proc/${pid}/status`, "utf8")).capEff & capabilityMask(["net_admin"])).toBe(0n);
    } finally {
      env = prev;
    }
    expect((await husk(netEnv, ["delete", "--force", "n1"])).code).toBe(0);
  });
});
