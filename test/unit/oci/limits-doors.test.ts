import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createConsola } from "consola";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { agentOverTransport } from "../../../src/agent/client.ts";
import { memoryPair } from "../../../src/agent/transport/memory.ts";
import { HookError } from "../../../src/host/errors.ts";
import { runHooks } from "../../../src/oci/hooks.ts";
import { LIMITS } from "../../../src/oci/limits.ts";
import { definePlugin } from "../../../src/plugins/define.ts";
import { validateOptions } from "../../../src/plugins/options.ts";
import { assertConsoleSocket, assertPidFileDir, writePidFile } from "../../../src/shim/launcher.ts";
import { serverChannel } from "../agent/helpers.ts";
import { state, tempDir } from "../hooks/helpers.ts";

/** The bounds of docs/limits.md at the doors that are not config.json: hooks, plugin options, flags, the agent channel. */

let dir: string;
beforeAll(() => {
  dir = tempDir("husk-limit-doors-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string; details?: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    return e as { code: string; message: string; details?: Record<string, unknown> };
  }
  throw new Error("expected a rejection");
}

function errorOf(fn: () => unknown): { code: string; message: string; details?: Record<string, unknown> } {
  try {
    fn();
  } catch (e) {
    return e as { code: string; message: string; details?: Record<string, unknown> };
  }
  throw new Error("expected an error");
}

describe("OCI hooks", () => {
  // The hooks' floods are logged (their tails); not into the test output.
  const quiet = { log: createConsola({ level: -999 }) };
  test("a hook flooding its stdout is cut at 1 MiB and fails with E_HOOK naming the stream and the limit", async () => {
    const t = performance.now();
    const e = await rejection(runHooks("prestart", [{ path: "/usr/bin/yes", args: ["yes", "flood"] }], state(), quiet));
    expect(performance.now() - t).toBeLessThan(5000);
    expect(e).toBeInstanceOf(HookError);
    expect(e.code).toBe("E_HOOK");
    expect(e.message).toBe("prestart hook 0 (/usr/bin/yes) wrote more than 1 MiB to stdout, over the limit: its stdout was closed");
    expect(e.details).toMatchObject({ stream: "stdout", limit: LIMITS.hookOutputBytes });
  });

  test("the same on stderr; a hook writing just under the limit passes", async () => {
    const flood = `head -c ${LIMITS.hookOutputBytes + 10} /dev/zero | tr '\\0' x >&2`;
    const e = await rejection(runHooks("createRuntime", [{ path: "/bin/sh", args: ["sh", "-c", flood] }], state(), quiet));
    expect(e.message).toContain("wrote more than 1 MiB to stderr");
    const fine = `head -c ${LIMITS.hookOutputBytes - 10} /dev/zero | tr '\\0' x`;
    expect(await runHooks("createRuntime", [{ path: "/bin/sh", args: ["sh", "-c", fine] }], state(), quiet)).toEqual([]);
  });

  test("a state over 1 MiB for stdin fails the phase before any hook runs (poststop: a warning, still no hook)", async () => {
    const marker = join(dir, "hook-ran");
    const hooks = [{ path: "/bin/sh", args: ["sh", "-c", `touch ${marker}`] }];
    const annotations: Record<string, string> = {};
    for (let i = 0; i < 1200; i++) annotations[`k${i}`] = "v".repeat(1000);
    const e = await rejection(runHooks("prestart", hooks, state({ annotations })));
    expect(e.code).toBe("E_HOOK");
    expect(e.message).toMatch(/^prestart hooks: the state for their stdin is \d+ bytes, over the 1 MiB limit$/);
    const failures = await runHooks("poststop", hooks, state({ annotations }), { keepGoing: true, ...quiet });
    expect(failures).toHaveLength(1);
    expect(existsSync(marker)).toBe(false);
  });
});

describe("plugin options", () => {
  const plugin = definePlugin({ name: "opts", options: v.looseObject({}), hooks: {} });

  test("options over 256 KiB as JSON are refused with E_PLUGIN naming the plugin, the size and the limit", () => {
    const e = errorOf(() => validateOptions(plugin, { blob: "x".repeat(LIMITS.pluginOptionsBytes) }));
    expect(e.code).toBe("E_PLUGIN");
    expect(e.message).toBe(
      `plugin "opts": [plugins.opts].options is ${LIMITS.pluginOptionsBytes + 11} bytes as compact JSON, over the 256 KiB limit`,
    );
    expect(validateOptions(plugin, { blob: "x".repeat(1000) })).toEqual({ blob: "x".repeat(1000) });
  });

  test("options nested deeper than 64 levels are refused before the plugin's schema sees them", () => {
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 100; i++) deep = { d: deep };
    const e = errorOf(() => validateOptions(plugin, deep));
    expect(e.code).toBe("E_PLUGIN");
    expect(e.message).toContain("nests more than 64 levels deep, over the 64-level limit");
  });
});

describe("--console-socket and --pid-file", () => {
  test("a console socket path longer than a unix socket address holds is E_USAGE with its length", () => {
    const path = `/tmp/${"s".repeat(120)}.sock`;
    const e = errorOf(() => assertConsoleSocket(path));
    expect(e.code).toBe("E_USAGE");
    expect(e.message).toBe(`console socket ${path} is 130 bytes long, over the 107-byte limit of a unix socket address`);
    // At the limit the length is fine: the next check (does it exist) answers.
    expect(errorOf(() => assertConsoleSocket(`/tmp/${"s".repeat(102)}`)).code).toBe("E_NOT_FOUND");
  });

  test("a pid-file path over PATH_MAX or a name over NAME_MAX is E_USAGE before anything is created", () => {
    const long = errorOf(() => assertPidFileDir(`/tmp/${"d/".repeat(2100)}x.pid`));
    expect(long.code).toBe("E_USAGE");
    expect(long.message).toMatch(/^cannot write pid file: its path is \d+ bytes long, over the 4095-byte limit \(PATH_MAX\)$/);
    const name = errorOf(() => assertPidFileDir(join(dir, `${"n".repeat(256)}`)));
    expect(name.code).toBe("E_USAGE");
    expect(name.message).toContain("its name is 256 bytes long, over the 255-byte limit (NAME_MAX)");
  });

  test("a pid file whose name is exactly NAME_MAX is written (its temporary name does not grow with it)", () => {
    const sub = join(dir, "pid");
    mkdirSync(sub);
    const file = join(sub, "p".repeat(255));
    assertPidFileDir(file);
    writePidFile(file, 4242);
    expect(readFileSync(file, "utf8")).toBe("4242");
    expect(readdirSync(sub)).toEqual(["p".repeat(255)]);
  });
});

describe("agent requests over the frame limit", () => {
  test("are refused by the caller with E_PROTOCOL naming the size; nothing stays pending and the channel stays usable", async () => {
    // The spec and process schemas keep createContainer/exec under a frame; a table without such bounds shows the channel's own.
    const methods = { "monitor.echo": { request: v.strictObject({ s: v.string() }), response: v.strictObject({ n: v.number() }) } };
    const [a, b] = memoryPair();
    const server = serverChannel(async (_m, req) => ({ n: (req as { s: string }).s.length }), methods);
    server.attach(b);
    const client = await agentOverTransport(a, { extraMethods: methods });
    try {
      const e = await rejection(client.callExtra("monitor.echo", { s: "x".repeat(1024 * 1024) }));
      expect(e.code).toBe("E_PROTOCOL");
      expect(e.message).toMatch(/^monitor\.echo request is 10486\d\d bytes, over the 1048576-byte frame limit$/);
      expect(client.channel.pendingCount).toBe(0);
      expect(await client.callExtra("monitor.echo", { s: "x".repeat(1000) })).toEqual({ n: 1000 });
    } finally {
      await client.close();
      await server.close();
    }
  });
});
