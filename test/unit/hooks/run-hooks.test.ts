import { describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HookError, HookTimeoutError } from "../../../src/host/errors.ts";
import { HOOK_STATUS, hookCommand, hookState, runHooks } from "../../../src/oci/hooks.ts";
import { HOOK_PHASES } from "../../../src/oci/spec.ts";
import { FAIL, readRecord, RECORD, SLEEP, state, tempDir } from "./helpers.ts";

describe("runHooks", () => {
  test("runs hooks in order with the full state on stdin and per-phase status", async () => {
    const dir = tempDir();
    const out = join(dir, "rec");
    for (const phase of HOOK_PHASES) {
      await runHooks(
        phase,
        [
          { path: RECORD, args: ["record-state", out, `${phase}-1`] },
          { path: RECORD, args: ["record-state", out, `${phase}-2`] },
        ],
        state(),
      );
    }
    const lines = await readRecord(out);
    expect(lines.map(([p]) => p)).toEqual(HOOK_PHASES.flatMap((p) => [`${p}-1`, `${p}-2`]));
    for (const [label, s] of lines) {
      const phase = label.replace(/-\d$/, "") as keyof typeof HOOK_STATUS;
      expect(s).toEqual({ ociVersion: "1.0.2", id: "c1", status: HOOK_STATUS[phase], pid: 4242, bundle: "/b", annotations: { a: "1" } });
    }
    expect(HOOK_STATUS.poststart).toBe("running");
    expect(HOOK_STATUS.poststop).toBe("stopped");
    expect(HOOK_STATUS.createRuntime).toBe("created");
  });

  test("never passes an empty ociVersion; annotations always present", () => {
    const s = hookState("prestart", state({ ociVersion: "", annotations: undefined }));
    expect(s.ociVersion.length).toBeGreaterThan(0);
    expect(s.annotations).toEqual({});
  });

  test("args[0] is argv0 and env is exactly the hook's", async () => {
    const dir = tempDir();
    const out = join(dir, "out");
    // A #! script loses argv[0] to the kernel, so the hook is /bin/sh itself,
    // reporting its own /proc cmdline (argv) and environment.
    const cmd = 'tr "\\0" "\\n" < /proc/$$/cmdline > "$OUT"; echo --- >> "$OUT"; tr "\\0" "\\n" < /proc/$$/environ >> "$OUT"';
    await runHooks("prestart", [{ path: "/bin/sh", args: ["custom-argv0", "-c", cmd, "x"], env: [`OUT=${out}`, "FOO=bar=baz"] }], state());
    const [argv, env] = (await Bun.file(out).text()).split("---\n");
    expect(argv!.trim().split("\n")).toEqual(["custom-argv0", "-c", cmd, "x"]);
    expect(env!.trim().split("\n").sort()).toEqual(["FOO=bar=baz", `OUT=${out}`]);
  });

  test("a non-zero hook throws HookError with path, exit code and stderr tail, and stops the phase", async () => {
    const dir = tempDir();
    const out = join(dir, "rec");
    const err = await runHooks(
      "createRuntime",
      [
        { path: FAIL, args: ["fail", "7"] },
        { path: RECORD, args: ["record-state", out, "after"] },
      ],
      state(),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(HookError);
    expect(err.code).toBe("E_HOOK");
    expect(err.message).toContain(FAIL);
    expect(err.message).toContain("exited with 7");
    expect(err.message).toContain("fail hook: exiting with 7");
    expect(err.details).toMatchObject({ phase: "createRuntime", path: FAIL, exitCode: 7 });
    expect(existsSync(out)).toBe(false);
  });

  test("keepGoing runs the remaining hooks and returns the failures", async () => {
    const dir = tempDir();
    const out = join(dir, "rec");
    const failures = await runHooks(
      "poststop",
      [
        { path: FAIL, args: ["fail", "3"] },
        { path: RECORD, args: ["record-state", out, "after"] },
      ],
      state(),
      { keepGoing: true },
    );
    expect(failures).toHaveLength(1);
    expect((await readRecord(out)).map(([p]) => p)).toEqual(["after"]);
  });

  test("a missing hook path is a HookError", async () => {
    const err = await runHooks("prestart", [{ path: "/nonexistent/hook" }], state()).catch((e) => e);
    expect(err).toBeInstanceOf(HookError);
    expect(err.message).toContain("/nonexistent/hook");
    expect(err.message).toContain("no such file");
  });

  test("a non-executable hook is a HookError, not a crash", async () => {
    const dir = tempDir();
    const p = join(dir, "noexec");
    writeFileSync(p, "#!/bin/sh\nexit 0\n");
    const err = await runHooks("prestart", [{ path: p }], state()).catch((e) => e);
    expect(err).toBeInstanceOf(HookError);
    expect(err.message).toContain(p);
  });

  test("a hook past its timeout gets SIGKILL (its children too) and E_HOOK_TIMEOUT", async () => {
    const dir = tempDir();
    const pidFile = join(dir, "pid");
    const t0 = performance.now();
    const err = await runHooks("prestart", [{ path: SLEEP, args: ["sleep", "30", pidFile], timeout: 1 }], state()).catch((e) => e);
    const elapsed = performance.now() - t0;
    expect(err).toBeInstanceOf(HookTimeoutError);
    expect(err.code).toBe("E_HOOK_TIMEOUT");
    expect(err.message).toContain(SLEEP);
    expect(err.message).toContain("1s");
    expect(elapsed).toBeLessThan(10_000);
    const pid = Number((await Bun.file(pidFile).text()).trim());
    // The shell (group leader) and its `sleep` child are both gone.
    const alive = (p: number) => {
      try {
        process.kill(p, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(alive(pid) && !(await Bun.file(`/proc/${pid}/stat`).text()).includes(") Z ")).toBe(false);
    // No live member of its process group (zombies are dead: init here may not reap them).
    const ps = await Bun.$`ps -eo pgid=,stat=`.quiet().text();
    const live = ps
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter(([g, st]) => Number(g) === pid && !st?.startsWith("Z"));
    expect(live).toEqual([]);
  });

  test("hookCommand enters the netns through nsenter and keeps argv0", () => {
    expect(hookCommand({ path: "/h", args: ["h", "a"] }, undefined)).toEqual({ file: "/h", args: ["a"], argv0: "h" });
    expect(hookCommand({ path: "/h", args: ["/h", "a"] }, "/var/run/netns/x", "/nsenter")).toEqual({
      file: "/nsenter",
      args: ["--net=/var/run/netns/x", "--", "/h", "a"],
    });
    expect(hookCommand({ path: "/h", args: ["other", "a"] }, "/ns", "/nsenter").args).toEqual([
      "--net=/ns",
      "--",
      "/bin/bash",
      "-c",
      'exec -a "$0" "$@"',
      "other",
      "/h",
      "a",
    ]);
  });
});
