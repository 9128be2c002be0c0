import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LaunchRequest, VmHandle } from "../../../src/core/ports.ts";
import { ShimLauncher } from "../../../src/shim/launcher.ts";

/**
 * The launcher's report deadline, with stand-in shims (no husk shim, no guest):
 * one that never connects, one that connects and never reports, one that dies.
 * Each fails with its error and leaves no shim process behind.
 */

let dir: string;
let devNull: number;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "husk-launcher-"));
  devNull = openSync("/dev/null", "r+");
});
afterAll(() => {
  closeSync(devNull);
  rmSync(dir, { recursive: true, force: true });
});

const request = {
  kind: "init",
  sandboxId: "sb",
  sandboxDir: "/nonexistent",
  containerId: "c1",
  spec: { ociVersion: "1.0.2", process: { user: { uid: 0, gid: 0 }, cwd: "/", args: ["true"] }, root: { path: "/rootfs" } },
  io: { terminal: false, detach: false },
} as unknown as LaunchRequest;

/** A stand-in shim: records its pid, then runs `body` (the handshake path is its last argument). */
function standIn(name: string, body: string): { command: string[]; pidFile: string } {
  const script = join(dir, `${name}.ts`);
  const pidFile = join(dir, `${name}.pid`);
  writeFileSync(script, `require("node:fs").writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));\n${body}\n`);
  return { command: [process.execPath, script], pidFile };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function launchWith(command: string[], reportTimeoutMs: number) {
  const launcher = new ShimLauncher({ command, reportTimeoutMs, stdioFor: () => [devNull, devNull, devNull] });
  const started = Date.now();
  const err = await launcher.launch({} as VmHandle, request).then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string },
  );
  return { err, ms: Date.now() - started };
}

describe("ShimLauncher report deadline", () => {
  test("a shim that never connects: E_TIMEOUT after reportTimeoutMs, shim killed", async () => {
    const s = standIn("silent", "await Bun.sleep(60_000);");
    const { err, ms } = await launchWith(s.command, 1500);
    expect(err?.code).toBe("E_TIMEOUT");
    expect(err?.message).toBe("shim did not report within 1500 ms");
    expect(ms).toBeGreaterThanOrEqual(1400);
    expect(alive(Number(readFileSync(s.pidFile, "utf8")))).toBe(false);
  });

  test("a shim that connects but never reports: the same deadline covers the report", async () => {
    const s = standIn(
      "mute",
      `await Bun.connect({ unix: process.argv.at(-1)!, socket: { data() {} } });\nrequire("node:fs").writeFileSync(${JSON.stringify(join(dir, "mute.connected"))}, "");\nawait Bun.sleep(60_000);`,
    );
    const { err, ms } = await launchWith(s.command, 1500);
    expect(err?.code).toBe("E_TIMEOUT");
    expect(err?.message).toBe("shim did not report within 1500 ms");
    expect(existsSync(join(dir, "mute.connected"))).toBe(true);
    expect(ms).toBeLessThan(5000);
    expect(alive(Number(readFileSync(s.pidFile, "utf8")))).toBe(false);
  });

  test("a shim that exits before reporting: E_SHIM with its status, no waiting for the deadline", async () => {
    const s = standIn("dies", "process.exit(3);");
    const { err, ms } = await launchWith(s.command, 30_000);
    expect(err?.code).toBe("E_SHIM");
    expect(err?.message).toBe("shim exited (3) before reporting");
    expect(ms).toBeLessThan(10_000);
  });
});
