import { describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync, constants } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary } from "@bufbuild/protobuf";
import { encodeForward } from "../../../src/shimv2/events.ts";
import { openProcessStdio, openStdin, openStdio, closeFds } from "../../../src/shimv2/fifo.ts";
import { parseShimArgs, shimSocketPath } from "../../../src/shimv2/flags.ts";
import { ForwardRequestSchema } from "../../../src/shimv2/gen/containerd/services/events/v1/events_pb.ts";
import { TaskExitSchema } from "../../../src/shimv2/gen/containerd/events/task_pb.ts";
import { MetricsSchema } from "../../../src/shimv2/gen/containerd/cgroups/metrics_pb.ts";
import { statsToMetrics } from "../../../src/shimv2/metrics.ts";

describe("shim v2 command line", () => {
  const base = [
    "-namespace",
    "k8s.io",
    "-address",
    "/run/containerd/containerd.sock",
    "-publish-binary",
    "/usr/bin/containerd",
    "-id",
    "abc",
  ];

  test("containerd's start and delete", () => {
    expect(parseShimArgs([...base, "start"])).toMatchObject({ action: "start", namespace: "k8s.io", id: "abc", debug: false });
    expect(parseShimArgs([...base, "-debug", "start"]).debug).toBe(true);
    expect(parseShimArgs([...base, "-bundle", "/b", "delete"])).toMatchObject({ action: "delete", bundle: "/b" });
    expect(parseShimArgs(["--namespace=default", "--address=/a", "--id=x", "start"])).toMatchObject({ namespace: "default", id: "x" });
  });

  test("refusals: unknown flag, bad id, bad namespace, no action, relative bundle", () => {
    expect(() => parseShimArgs([...base, "-nope", "start"])).toThrow(/not defined: -nope/);
    expect(() => parseShimArgs(["-namespace", "n", "-address", "/a", "-id", "../x", "start"])).toThrow(/invalid id/);
    expect(() => parseShimArgs(["-namespace", "a/b", "-address", "/a", "-id", "x", "start"])).toThrow(/invalid namespace/);
    expect(() => parseShimArgs(base)).toThrow(/expected one action/);
    expect(() => parseShimArgs([...base, "run"])).toThrow();
    expect(() => parseShimArgs([...base, "-bundle", "b", "delete"])).toThrow(/absolute/);
    expect(() => parseShimArgs([...base, "-id"])).toThrow(/needs an argument/);
  });

  test("one socket per (namespace, pod), short enough for sun_path", () => {
    const a = shimSocketPath("/run/husk", "k8s.io", "pod1");
    expect(a).toBe(shimSocketPath("/run/husk", "k8s.io", "pod1"));
    expect(a).not.toBe(shimSocketPath("/run/husk", "default", "pod1"));
    expect(a.startsWith("/run/husk/s/")).toBe(true);
    expect(shimSocketPath("/run/husk", "k8s.io", "f".repeat(64)).length).toBeLessThan(60);
  });
});

describe("events", () => {
  test("an envelope with the bare type name and the topic", () => {
    const at = new Date("2026-12-04T10:00:00Z");
    const bytes = encodeForward(
      "k8s.io",
      TaskExitSchema,
      create(TaskExitSchema, { containerId: "c1", id: "c1", pid: 42, exitStatus: 3 }),
      at,
    );
    const req = fromBinary(ForwardRequestSchema, bytes);
    expect(req.envelope?.namespace).toBe("k8s.io");
    expect(req.envelope?.topic).toBe("/tasks/exit");
    expect(req.envelope?.event?.typeUrl).toBe("containerd.events.TaskExit");
    expect(Number(req.envelope?.timestamp?.seconds)).toBe(at.getTime() / 1000);
    const exit = fromBinary(TaskExitSchema, req.envelope!.event!.value);
    expect(exit).toMatchObject({ containerId: "c1", pid: 42, exitStatus: 3 });
  });
});

describe("metrics", () => {
  test("guest stats as io.containerd.cgroups.v2.Metrics", () => {
    const any = statsToMetrics({
      cpu: { usageUsec: 10, userUsec: 6, systemUsec: 4 },
      memory: { usageBytes: 4096, limitBytes: 1 << 20 },
      pids: { current: 2 },
    });
    expect(any.typeUrl).toBe("io.containerd.cgroups.v2.Metrics");
    const m = fromBinary(MetricsSchema, any.value);
    expect(m.cpu?.usageUsec).toBe(10n);
    expect(m.memory?.usage).toBe(4096n);
    expect(m.memory?.usageLimit).toBe(1048576n);
    expect(m.pids?.current).toBe(2n);
    expect(m.pids?.limit).toBe(0n);
  });
});

describe("stdio fifos", () => {
  const fifoDir = () => mkdtempSync(join(tmpdir(), "shimv2-fifo-"));
  const mkfifo = (p: string) => expect(Bun.spawnSync(["mkfifo", p]).exitCode).toBe(0);

  test("stdin opens before the client does; EOF only once the client and the keeper are closed", () => {
    const d = fifoDir();
    const p = join(d, "in");
    mkfifo(p);
    const s = openStdin(p)!;
    const client = openSync(p, constants.O_WRONLY | constants.O_NONBLOCK); // the client comes later
    writeSync(client, "hi");
    closeSync(client);
    const buf = Buffer.alloc(16);
    expect(readSync(s.fd, buf)).toBe(2);
    // The keeper still holds a write end: a non-blocking read finds no data rather than EOF.
    const probe = openSync(p, constants.O_RDONLY | constants.O_NONBLOCK);
    expect(() => readSync(probe, buf)).toThrow(/EAGAIN/);
    closeSync(s.keeper); // CloseIO
    expect(readSync(probe, buf)).toBe(0);
    closeFds([probe, s.fd]);
    rmSync(d, { recursive: true });
  });

  test("an output fifo nobody reads is refused after the deadline, and the pending open released", async () => {
    const d = fifoDir();
    const p = join(d, "out");
    mkfifo(p);
    await expect(openStdio(p, "out", 100)).rejects.toThrow(/nobody opened its other end within 100 ms/);
    rmSync(d, { recursive: true });
  });

  test("missing streams become /dev/null; unknown schemes are refused", async () => {
    const io = await openProcessStdio({ stdin: "", stdout: "", stderr: "" });
    expect(io.fds).toHaveLength(3);
    expect(io.stdinKeeper).toBeUndefined();
    closeFds(io.fds);
    await expect(openStdio("binary:///usr/bin/logger", "out")).rejects.toThrow(/stdout and stderr together/);
    await expect(openStdio("tcp://x", "out")).rejects.toThrow(/unknown scheme/);
    await expect(openStdio("relative/path", "out")).rejects.toThrow(/absolute/);
  });

  test("file:// appends to a file", async () => {
    const d = fifoDir();
    const fd = (await openStdio(`file://${join(d, "log")}`, "out"))!;
    writeSync(fd, "line\n");
    closeSync(fd);
    expect(await Bun.file(join(d, "log")).text()).toBe("line\n");
    rmSync(d, { recursive: true });
  });
});

describe("publisher", () => {
  test("events wait for containerd's socket and arrive in order", async () => {
    const { Publisher } = await import("../../../src/shimv2/events.ts");
    const { serveTtrpc } = await import("../../../src/shimv2/ttrpc.ts");
    const { TaskStartSchema } = await import("../../../src/shimv2/gen/containerd/events/task_pb.ts");
    const d = mkdtempSync(join(tmpdir(), "shimv2-pub-"));
    const sock = join(d, "c.sock.ttrpc");
    const pub = new Publisher(sock, "ns1");
    const got: string[] = [];
    // containerd is not there yet (restarting): the events queue.
    const a = pub.publish(TaskStartSchema, create(TaskStartSchema, { containerId: "a", pid: 1 }));
    const b = pub.publish(TaskStartSchema, create(TaskStartSchema, { containerId: "b", pid: 2 }));
    await Bun.sleep(300);
    const server = serveTtrpc(
      sock,
      new Map([
        [
          "containerd.services.events.ttrpc.v1.Events/Forward",
          async (payload: Uint8Array) => {
            const env = fromBinary(ForwardRequestSchema, payload).envelope!;
            got.push(`${env.namespace} ${env.topic} ${fromBinary(TaskStartSchema, env.event!.value).containerId}`);
            return new Uint8Array();
          },
        ],
      ]),
    );
    await Promise.all([a, b]);
    expect(got).toEqual(["ns1 /tasks/start a", "ns1 /tasks/start b"]);
    pub.close();
    server.close();
    rmSync(d, { recursive: true });
  });
});

describe("binary:// loggers", () => {
  test("the URI's path and query become the command line", async () => {
    const { parseBinaryUri } = await import("../../../src/shimv2/binary-log.ts");
    expect(parseBinaryUri("binary:///usr/bin/log?dir=/var/log/x&debug")).toEqual({
      path: "/usr/bin/log",
      args: ["dir", "/var/log/x", "debug"],
    });
    expect(() => parseBinaryUri("binary://host/usr/bin/log")).toThrow(/absolute path/);
    expect(() => parseBinaryUri("file:///x")).toThrow(/not binary/);
  });

  test("the logger gets the process's stdout and stderr on fds 3 and 4, ready when it closes fd 5, EOF when they close", async () => {
    const d = mkdtempSync(join(tmpdir(), "shimv2-binlog-"));
    const script = join(d, "logger.sh");
    await Bun.write(
      script,
      '#!/bin/sh\nd=$2\necho "$CONTAINER_NAMESPACE/$CONTAINER_ID" > "$d/who"\nexec 5>&-\ncat <&3 > "$d/out" &\ncat <&4 > "$d/err"\nwait\ntouch "$d/done"\n',
    );
    Bun.spawnSync(["chmod", "755", script]);
    const io = await openProcessStdio(
      { stdin: "", stdout: `binary://${script}?dir=${d}`, stderr: `binary://${script}?dir=${d}` },
      { containerId: "c1", namespace: "k8s.io" },
    );
    writeSync(io.fds[1], "to stdout\n");
    writeSync(io.fds[2], "to stderr\n");
    closeFds(io.fds);
    for (let i = 0; i < 100 && !(await Bun.file(join(d, "done")).exists()); i++) await Bun.sleep(20);
    expect(await Bun.file(join(d, "out")).text()).toBe("to stdout\n");
    expect(await Bun.file(join(d, "err")).text()).toBe("to stderr\n");
    expect(await Bun.file(join(d, "who")).text()).toBe("k8s.io/c1\n");
    rmSync(d, { recursive: true });
  });

  test("a logger that is not executable, or given only one of two different streams, is refused", async () => {
    const d = mkdtempSync(join(tmpdir(), "shimv2-binlog-"));
    const owner = { containerId: "c1", namespace: "n" };
    await expect(openProcessStdio({ stdin: "", stdout: `binary://${d}/missing`, stderr: "" }, owner)).rejects.toThrow(
      /not an executable file/,
    );
    const quitter = join(d, "quit.sh");
    await Bun.write(quitter, "#!/bin/sh\nexit 3\n");
    Bun.spawnSync(["chmod", "755", quitter]);
    // One that exits at once has closed fd 5: ready, as with containerd's shim (its process then meets a closed pipe).
    closeFds((await openProcessStdio({ stdin: "", stdout: `binary://${quitter}`, stderr: "" }, owner)).fds);
    await expect(openProcessStdio({ stdin: "", stdout: `binary://${quitter}`, stderr: "/tmp/other" }, owner)).rejects.toThrow(
      /must take both/,
    );
    rmSync(d, { recursive: true });
  });
});
