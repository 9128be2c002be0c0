import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { IoError, PluginError, TimeoutError } from "../../../src/host/errors.ts";
import { logger } from "../../../src/host/log.ts";
import { importPlugin } from "../../../src/plugins/loader.ts";
import { createRunner } from "../../../src/plugins/runner.ts";
import { tempDir } from "./helpers.ts";

describe("the process runner plugins get", () => {
  const run = createRunner(logger("test"));

  test("returns output; input and env are passed", async () => {
    const r = await run("/bin/sh", ["-c", 'read x; echo "$x $FOO"'], { input: "hi\n", env: { FOO: "bar" } });
    expect(r).toEqual({ stdout: "hi bar", stderr: "", exitCode: 0 });
  });

  test("a non-zero exit throws E_IO with the stderr, unless allowFailure", async () => {
    const err = await run("/bin/sh", ["-c", "echo oops >&2; exit 3"]).catch((e) => e);
    expect(err).toBeInstanceOf(IoError);
    expect(err.message).toContain("exit 3");
    expect(err.message).toContain("oops");
    expect((await run("/bin/sh", ["-c", "exit 3"], { allowFailure: true })).exitCode).toBe(3);
  });

  test("a command past its timeout is killed: E_TIMEOUT", async () => {
    const t0 = performance.now();
    const err = await run("/bin/sleep", ["20"], { timeoutMs: 200 }).catch((e) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(performance.now() - t0).toBeLessThan(5_000);
  });
});

describe("plugin module shape", () => {
  test("an unknown hook name is refused naming it", async () => {
    const file = join(tempDir(), "typo.ts");
    const api = resolve(import.meta.dir, "../../../src/plugins/api.ts");
    writeFileSync(
      file,
      `import { definePlugin } from ${JSON.stringify(api)};\nexport default definePlugin({ name: "typo", hooks: { "container:prestrat": () => {} } as never });\n`,
    );
    const err = await importPlugin(file).catch((e) => e);
    expect(err).toBeInstanceOf(PluginError);
    expect(err.message).toContain('unknown hook "container:prestrat"');
  });

  test("a module that throws on import is a PluginError naming the file", async () => {
    const file = join(tempDir(), "boom.ts");
    writeFileSync(file, `throw new Error("top-level boom");\n`);
    const err = await importPlugin(file).catch((e) => e);
    expect(err).toBeInstanceOf(PluginError);
    expect(err.message).toContain(file);
    expect(err.message).toContain("top-level boom");
  });
});
