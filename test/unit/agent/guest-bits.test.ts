import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { interfaceCommands, routeCommand } from "../../../src/agent/server/network.ts";
import { parseMountPoints } from "../../../src/agent/server/mounts.ts";
import { cgroupOf, cgroupStats, guestDetails, parseStat, processInfo } from "../../../src/agent/server/procfs.ts";
import { findVirtioPort, type PortDevice, PortSessions } from "../../../src/agent/transport/virtio-port.ts";
import { Channel } from "../../../src/agent/wire/channel.ts";
import { agentOverTransport } from "../../../src/agent/client.ts";
import { EVENTS, METHODS } from "../../../src/agent/protocol.ts";
import type { Transport } from "../../../src/agent/wire/transport.ts";
import { sleep } from "./helpers.ts";

describe("procfs and cgroup readers", () => {
  test("stat with spaces and parentheses in the command", () => {
    expect(parseStat("42 (my (odd) cmd) S 7 42 42 0 -1")).toEqual({ pid: 42, comm: "my (odd) cmd", state: "S", ppid: 7 });
    expect(parseStat("garbage")).toBeNull();
  });

  test("process info, cgroup, stats and guest details from fixture files", async () => {
    const root = mkdtempSync(join(tmpdir(), "husk-procfs-"));
    const proc = join(root, "proc");
    mkdirSync(join(proc, "12"), { recursive: true });
    writeFileSync(join(proc, "12/stat"), "12 (sleep) S 1 12 12 0");
    writeFileSync(join(proc, "12/status"), "Name:\tsleep\nUid:\t1000\t1000\t1000\t1000\n");
    writeFileSync(join(proc, "12/cmdline"), "sleep\u0000300\u0000");
    writeFileSync(join(proc, "12/cgroup"), "0::/husk/c1\n");
    expect(await processInfo(12, proc)).toEqual({ pid: 12, ppid: 1, state: "S", command: "sleep 300", user: "1000" });
    expect(await processInfo(13, proc)).toBeNull();
    expect(await cgroupOf(12, proc)).toBe("/husk/c1");
    const cg = join(root, "cg/husk/c1");
    mkdirSync(cg, { recursive: true });
    writeFileSync(join(cg, "cpu.stat"), "usage_usec 500\nuser_usec 300\nsystem_usec 200\n");
    writeFileSync(join(cg, "memory.current"), "4096\n");
    writeFileSync(join(cg, "memory.max"), "max\n");
    writeFileSync(join(cg, "pids.current"), "3\n");
    writeFileSync(join(cg, "pids.max"), "100\n");
    expect(await cgroupStats(cg)).toEqual({
      cpu: { usageUsec: 500, userUsec: 300, systemUsec: 200 },
      memory: { usageBytes: 4096 },
      pids: { current: 3, limit: 100 },
    });
    mkdirSync(join(proc, "sys/kernel"), { recursive: true });
    writeFileSync(join(proc, "sys/kernel/osrelease"), "6.1.0-test\n");
    writeFileSync(join(proc, "meminfo"), "MemTotal:       2048 kB\nMemFree:         100 kB\nMemAvailable:   1024 kB\n");
    writeFileSync(join(proc, "cpuinfo"), "processor\t: 0\nflags: x\n\nprocessor\t: 1\n");
    writeFileSync(join(proc, "uptime"), "12.5 20.0\n");
    expect(await guestDetails("v1", proc)).toEqual({
      agentVersion: "v1",
      kernelRelease: "6.1.0-test",
      cpus: 2,
      memTotalKiB: 2048,
      memFreeKiB: 1024,
      uptimeSec: 12.5,
    });
  });
});

describe("network commands", () => {
  test("interfaces and routes become busybox ip command lines", () => {
    expect(
      interfaceCommands({ name: "eth0", hwAddr: "02:00:00:00:00:01", mtu: 1400, addresses: [{ address: "10.1.0.2", prefixLength: 16 }] }),
    ).toEqual([
      ["ip", "link", "set", "dev", "eth0", "down"],
      ["ip", "link", "set", "dev", "eth0", "address", "02:00:00:00:00:01"],
      ["ip", "link", "set", "dev", "eth0", "mtu", "1400"],
      ["ip", "addr", "flush", "dev", "eth0"],
      ["ip", "addr", "add", "10.1.0.2/16", "dev", "eth0"],
      ["ip", "link", "set", "dev", "eth0", "up"],
    ]);
    expect(routeCommand({ destination: "10.2.0.0/16", device: "eth0", source: "10.1.0.2" })).toEqual([
      "ip",
      "route",
      "replace",
      "10.2.0.0/16",
      "dev",
      "eth0",
      "src",
      "10.1.0.2",
    ]);
  });

  test("mountinfo targets are unescaped", () => {
    const info = "22 1 0:21 / /proc rw - proc proc rw\n30 22 0:40 / /run/husk/with\\040space rw - 9p husk-shared rw\n";
    expect(parseMountPoints(info)).toEqual(new Set(["/proc", "/run/husk/with space"]));
  });
});

/** A fake virtio-serial device: reads return queued host bytes, 0 while no host is connected. */
class FakePort implements PortDevice {
  inbox: Uint8Array[] = [];
  connected = false;
  written: Uint8Array[] = [];
  private wake: (() => void) | undefined;
  onWrite: ((b: Uint8Array) => void) | undefined;
  async read(buf: Uint8Array): Promise<number> {
    for (;;) {
      if (!this.connected) return 0;
      const c = this.inbox.shift();
      if (c) {
        buf.set(c);
        return c.length;
      }
      await new Promise<void>((r) => (this.wake = r));
    }
  }
  async write(bytes: Uint8Array): Promise<void> {
    this.written.push(bytes.slice());
    this.onWrite?.(bytes.slice());
  }
  hostSend(b: Uint8Array): void {
    this.inbox.push(b);
    this.wake?.();
  }
  disconnect(): void {
    this.connected = false;
    this.wake?.();
  }
}

/** The host side of a fake port as a Transport. */
function hostTransport(port: FakePort): Transport {
  let h: { data(c: Uint8Array): void; close(): void } | undefined;
  port.connected = true;
  port.onWrite = (b) => h?.data(b);
  return {
    label: "fake-host",
    pendingBytes: 0,
    start(handlers) {
      h = handlers;
    },
    async write(b) {
      port.hostSend(b.slice());
    },
    close() {
      port.disconnect();
      h?.close();
    },
  };
}

describe("virtio-serial port sessions", () => {
  test("the port is found by name", () => {
    const sys = mkdtempSync(join(tmpdir(), "husk-vports-"));
    for (const [dev, name] of [
      ["vport1p0", "other"],
      ["vport1p1", "agent.channel.0"],
    ]) {
      mkdirSync(join(sys, dev!));
      writeFileSync(join(sys, dev!, "name"), `${name}\n`);
    }
    expect(findVirtioPort("agent.channel.0", sys)).toBe("/dev/vport1p1");
    expect(findVirtioPort("nope", sys)).toBeNull();
  });

  test("the host reconnecting starts a new session with a new handshake; guest state survives", async () => {
    const port = new FakePort();
    const sessions = new PortSessions(port, "fake", 5);
    let calls = 0;
    const guest = new Channel({
      name: "guest",
      role: "responder",
      local: { methods: METHODS, events: EVENTS, handler: async () => ({ agentVersion: `v${++calls}`, commit: "c", protocolVersion: 1 }) },
    });
    let stop = false;
    void (async () => {
      while (!stop) guest.attach(await sessions.next());
    })();
    const a1 = await agentOverTransport(hostTransport(port));
    expect((await a1.call("version", {})).agentVersion).toBe("v1");
    // the host goes away (QEMU chardev client disconnects), then a new one connects
    await a1.close();
    await sleep(20);
    const a2 = await agentOverTransport(hostTransport(port));
    expect((await a2.call("version", {})).agentVersion).toBe("v2");
    stop = true;
    await a2.close();
    sessions.stop();
    await guest.close();
  });
});

describe("oom watcher", () => {
  test("an oom_kill count that grows emits once per poll that sees it", async () => {
    const { OomWatcher } = await import("../../../src/agent/server/oom.ts");
    const dir = mkdtempSync(join(tmpdir(), "husk-oom-"));
    writeFileSync(join(dir, "memory.events"), "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
    const seen: string[] = [];
    const w = new OomWatcher((id) => seen.push(id), 60_000);
    await w.add("c1", dir);
    await w.poll();
    expect(seen).toEqual([]);
    writeFileSync(join(dir, "memory.events"), "oom 1\noom_kill 1\n");
    await w.poll();
    await w.poll();
    expect(seen).toEqual(["c1"]);
    w.remove("c1");
  });
  test("a change of memory.events is seen at once (inotify), without waiting for the poll; reported once", async () => {
    const { OomWatcher } = await import("../../../src/agent/server/oom.ts");
    const dir = mkdtempSync(join(tmpdir(), "husk-oom-"));
    writeFileSync(join(dir, "memory.events"), "oom 0\noom_kill 0\n");
    const seen: string[] = [];
    const w = new OomWatcher((id) => seen.push(id), 60_000);
    await w.add("c1", dir);
    const t0 = performance.now();
    writeFileSync(join(dir, "memory.events"), "oom 1\noom_kill 1\n");
    while (seen.length === 0 && performance.now() - t0 < 5000) await sleep(10);
    expect(seen).toEqual(["c1"]);
    expect(performance.now() - t0).toBeLessThan(1000);
    await w.poll();
    expect(seen).toEqual(["c1"]);
    w.remove("c1");
  });
  test("an OOM kill that ends the container is reported by the last look at exit", async () => {
    const { OomWatcher } = await import("../../../src/agent/server/oom.ts");
    const dir = mkdtempSync(join(tmpdir(), "husk-oom-"));
    writeFileSync(join(dir, "memory.events"), "oom 0\noom_kill 0\n");
    const seen: string[] = [];
    const w = new OomWatcher((id) => seen.push(id), 60_000);
    await w.add("c1", dir);
    writeFileSync(join(dir, "memory.events"), "oom 1\noom_kill 1\n");
    await w.finish("c1");
    expect(seen).toEqual(["c1"]);
    await w.finish("c1"); // forgotten: nothing more
    expect(seen).toEqual(["c1"]);
  });
});
