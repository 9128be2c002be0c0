/**
 * Runs in its own process (so the shim inherits this process's stdio, which
 * the test captures): launches one process through the real ShimLauncher
 * and writes the LaunchResult to a file. Foreground launches exit with the
 * process's status, as `husk run` does.
 * argv: <request.json> <result.json>
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LaunchRequest } from "../../../src/core/ports.ts";
import type { VmHandle } from "../../../src/core/ports.ts";
import { ShimLauncher } from "../../../src/shim/launcher.ts";

const [requestFile, resultFile] = process.argv.slice(2) as [string, string];
const request = JSON.parse(readFileSync(requestFile, "utf8")) as LaunchRequest;
const launcher = new ShimLauncher({
  command: [process.execPath, join(import.meta.dir, "../../../src/main.ts")],
  // HUSK_TEST_SHIM_LOG=FILE: the shim's debug log, for when a test needs explaining.
  globalArgs: process.env.HUSK_TEST_SHIM_LOG ? ["--debug", "--log", process.env.HUSK_TEST_SHIM_LOG] : [],
  reportTimeoutMs: 30_000,
});
try {
  const r = await launcher.launch({} as VmHandle, request);
  writeFileSync(resultFile, JSON.stringify({ ok: true, pid: r.pid, guestPid: r.guestPid }));
  if (r.exited) process.exit(await r.exited);
  process.exit(0);
} catch (e) {
  writeFileSync(resultFile, JSON.stringify({ ok: false, code: (e as { code?: string }).code, message: (e as Error).message }));
  process.exit(1);
}
