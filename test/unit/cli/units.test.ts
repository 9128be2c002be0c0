import { describe, expect, test } from "bun:test";
import { checkFlags, repeated } from "../../../src/cli/lib/flags.ts";
import { parseGlobals } from "../../../src/cli/globals.ts";
import { parseSignal } from "../../../src/cli/lib/signals.ts";
import { podSandboxOf } from "../../../src/runtime/pod.ts";
import { parseDuration } from "../../../src/cli/lib/duration.ts";
import { parseBytes, updateResources } from "../../../src/cli/lib/resources.ts";
import { execProcess } from "../../../src/cli/lib/exec-process.ts";
import { runcState } from "../../../src/cli/lib/state.ts";
import { formatLine } from "../../../src/cli/logging.ts";

describe("global flags", () => {
  test("runc's globals before the command, = and space forms, repeatable --plugin", () => {
    const { globals, rest } = parseGlobals([
      "--root",
      "/r",
      "--log=/l",
      "--log-format",
      "json",
      "--debug",
      "--plugin",
      "a.ts",
      "--plugin=b.ts",
      "--systemd-cgroup",
      "create",
      "--bundle",
      "b",
      "x",
    ]);
    expect(globals).toMatchObject({
      root: "/r",
      log: "/l",
      logFormat: "json",
      debug: true,
      plugins: ["a.ts", "b.ts"],
      systemdCgroup: true,
    });
    expect(rest).toEqual(["create", "--bundle", "b", "x"]);
  });
  test("Go-style single-dash long flags", () => {
    expect(parseGlobals(["-root", "/r", "state", "x"]).globals.root).toBe("/r");
  });
  test("bad values are usage errors", () => {
    expect(() => parseGlobals(["--root", "relative", "list"])).toThrow("absolute");
    expect(() => parseGlobals(["--log"])).toThrow("needs an argument");
    expect(() => parseGlobals(["--rootless", "maybe", "list"])).toThrow("true, false or auto");
  });
});

describe("command flags", () => {
  const def = {
    bundle: { type: "string", alias: "b" },
    detach: { type: "boolean", alias: "d" },
    env: { type: "string", alias: "e" },
    "no-pivot": { type: "boolean" },
  } as const;
  test("known flags pass; unknown are refused", () => {
    expect(checkFlags(["-b", "x", "--detach", "--no-pivot", "id"], def).positionals).toEqual(["id"]);
    expect(() => checkFlags(["--nope"], def)).toThrow("--nope");
    expect(() => checkFlags(["-z"], def)).toThrow("-z");
  });
  test("exec style: flags stop at the first positional", () => {
    const s = checkFlags(["-d", "-e", "A=1", "id", "sh", "-c", "echo -e"], def, true);
    expect(s.tail).toEqual(["id", "sh", "-c", "echo -e"]);
    expect(repeated(s.flags, ["env", "e"])).toEqual(["A=1"]);
  });
  test("repeated values in every spelling", () => {
    expect(repeated(["-e", "A=1", "--env=B=2", "-eC=3", "--env", "D=4"], ["env", "e"])).toEqual(["A=1", "B=2", "C=3", "D=4"]);
  });
});

describe("signals", () => {
  test("numbers, names with and without SIG, any case", () => {
    expect(parseSignal("9")).toBe(9);
    expect(parseSignal("KILL")).toBe(9);
    expect(parseSignal("SIGTERM")).toBe(15);
    expect(parseSignal("usr1")).toBe(10);
    expect(parseSignal("RTMIN+2")).toBe(36);
    expect(parseSignal("0")).toBe(0); // the liveness probe, as runc
  });
  test("unknown and out of range are refused", () => {
    expect(() => parseSignal("FROB")).toThrow("unknown signal");
    expect(() => parseSignal("-1")).toThrow("unknown signal");
    expect(() => parseSignal("65")).toThrow("out of range");
  });
});

describe("pods", () => {
  test("CRI and CRI-O container annotations name the sandbox", () => {
    expect(podSandboxOf("c1", { "io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.sandbox-id": "pod1" })).toBe("pod1");
    expect(podSandboxOf("c1", { "io.kubernetes.cri-o.ContainerType": "container", "io.kubernetes.cri-o.SandboxID": "pod1" })).toBe("pod1");
  });
  test("the sandbox container and plain bundles get their own VM", () => {
    expect(podSandboxOf("pod1", { "io.kubernetes.cri.container-type": "sandbox", "io.kubernetes.cri.sandbox-id": "pod1" })).toBeUndefined();
    expect(podSandboxOf("c1", {})).toBeUndefined();
    expect(podSandboxOf("c1", undefined)).toBeUndefined();
  });
});

describe("values", () => {
  test("durations and sizes", () => {
    expect(parseDuration("5s")).toBe(5000);
    expect(parseDuration("1m30s")).toBe(90_000);
    expect(() => parseDuration("5")).toThrow();
    expect(parseBytes("memory", "512m")).toBe(512 * 1024 * 1024);
    expect(parseBytes("memory", "-1")).toBe(-1);
  });
  test("update: honoured resources map to OCI; the rest is refused", () => {
    expect(updateResources({ memory: "1g", "cpu-quota": "50000", "pids-limit": "10" })).toEqual({
      memory: { limit: 1024 ** 3 },
      cpu: { quota: 50000 },
      pids: { limit: 10 },
    });
    expect(() => updateResources({ "blkio-weight": "500" })).toThrow("cannot be honoured");
  });
});

describe("exec process", () => {
  const spec = { ociVersion: "1.0.2", process: { user: { uid: 0, gid: 0 }, cwd: "/", args: ["sh"], env: ["PATH=/bin", "A=1"] } };
  test("the container's process with the command and flags over it", () => {
    const p = execProcess(spec, {
      args: ["ls", "-l"],
      tty: true,
      cwd: "/tmp",
      env: ["A=2", "B=3"],
      user: "1000:100",
      additionalGids: ["5"],
      caps: [],
      noNewPrivs: true,
    });
    expect(p).toMatchObject({
      args: ["ls", "-l"],
      terminal: true,
      cwd: "/tmp",
      env: ["PATH=/bin", "A=2", "B=3"],
      user: { uid: 1000, gid: 100, additionalGids: [5] },
      noNewPrivileges: true,
    });
  });
  test("a command is required, users are numeric", () => {
    expect(() => execProcess(spec, { args: [], tty: false, env: [], additionalGids: [], caps: [], noNewPrivs: false })).toThrow(
      "needs a command",
    );
    expect(() =>
      execProcess(spec, { args: ["x"], tty: false, env: [], user: "root", additionalGids: [], caps: [], noNewPrivs: false }),
    ).toThrow("uid");
  });
});

describe("state JSON", () => {
  const base = {
    id: "c1",
    sandboxId: "c1",
    pid: 42,
    guestPid: 7,
    bundle: "/b",
    rootfs: "/b/rootfs",
    annotations: {},
    createdAt: "2026-01-01T00:00:00.000Z",
  };
  test("runc's keys, OCI status names, no pid once stopped", () => {
    expect(runcState({ ...base, state: "ready" })).toEqual({
      ociVersion: expect.any(String),
      id: "c1",
      pid: 42,
      status: "created",
      bundle: "/b",
      rootfs: "/b/rootfs",
      created: base.createdAt,
      owner: "",
    });
    expect(runcState({ ...base, state: "stopped" }).pid).toBe(0);
    expect(runcState({ ...base, state: "running", annotations: { a: "b" } }).annotations).toEqual({ a: "b" });
  });
});

describe("log lines", () => {
  test("json and text as runc/logrus write them", () => {
    const t = new Date("2026-01-01T00:00:00Z");
    expect(JSON.parse(formatLine("json", "error", "boom", t))).toEqual({ level: "error", msg: "boom", time: "2026-01-01T00:00:00.000Z" });
    expect(formatLine("text", "error", 'a "b"', t)).toBe('time="2026-01-01T00:00:00.000Z" level=error msg="a \\"b\\""\n');
  });
});
