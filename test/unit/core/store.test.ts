import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import * as api from "../../../src/core/api.ts";
import { containerDir, sandboxDir } from "../../../src/host/layout.ts";
import { readJson, writeJsonAtomic } from "../../../src/host/json-file.ts";
import { FIXTURES, containerConfig, makeEnv, rejectsWith, tempDir } from "./helpers.ts";

/** Atomic writes under SIGKILL, strict reads, ids before paths. */

let dir: string;
beforeAll(() => {
  dir = tempDir("husk-store-");
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const Versioned = v.strictObject({ seq: v.number(), len: v.number(), pad: v.string() });

describe("writeJsonAtomic", () => {
  test("a writer killed at random points never leaves a half-written file", async () => {
    const file = join(dir, "state.json");
    let lastSeq = -1;
    let observed = 0;
    for (let round = 0; round < 12; round++) {
      const writer = Bun.spawn([process.execPath, join(FIXTURES, "atomic-writer.ts"), file], { stdio: ["ignore", "ignore", "inherit"] });
      const deadline = Date.now() + 80 + Math.random() * 250;
      // Read while it writes: every observation is a complete version.
      while (Date.now() < deadline) {
        if (existsSync(file)) {
          const doc = JSON.parse(readFileSync(file, "utf8"));
          expect(doc.pad.length).toBe(doc.len);
          observed++;
        }
        await Bun.sleep(1);
      }
      writer.kill("SIGKILL");
      await writer.exited;
      const doc = readJson(file, Versioned, "versioned file");
      expect(doc.pad.length).toBe(doc.len);
      if (round === 0) lastSeq = doc.seq;
      observed++;
    }
    expect(observed).toBeGreaterThan(12);
    expect(lastSeq).toBeGreaterThanOrEqual(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  }, 30_000);

  test("leaves no temp file on success", () => {
    const sub = join(dir, "clean");
    mkdirSync(sub);
    writeJsonAtomic(join(sub, "a.json"), { a: 1 });
    writeJsonAtomic(join(sub, "a.json"), { a: 2 });
    expect(readdirSync(sub)).toEqual(["a.json"]);
  });
});

describe("readJson", () => {
  test("missing → E_NOT_FOUND; not JSON or wrong shape → E_INTERNAL naming file and key", async () => {
    const S = v.strictObject({ state: v.picklist(["ready"]) });
    expect(() => readJson(join(dir, "none.json"), S, "thing")).toThrow("thing not found");
    const bad = join(dir, "bad.json");
    writeFileSync(bad, "{ half");
    try {
      readJson(bad, S, "thing");
      throw new Error("no error");
    } catch (e) {
      expect((e as { code: string }).code).toBe("E_INTERNAL");
      expect((e as Error).message).toContain(bad);
    }
    writeFileSync(bad, JSON.stringify({ state: "ready", extra: 1 }));
    expect(() => readJson(bad, S, "thing")).toThrow(`corrupt file ${bad}: extra`);
    writeFileSync(bad, JSON.stringify({ state: "gone" }));
    expect(() => readJson(bad, S, "thing")).toThrow(`corrupt file ${bad}: state`);
  });

  test("a corrupt state file makes the api fail clearly, naming the file", async () => {
    const env = makeEnv();
    try {
      await api.createSandbox(env.ctx, { id: "sb", containers: [containerConfig("c1", env.bundle("b"))] });
      const file = join(containerDir(env.root, "sb", "c1"), "state.json");
      writeFileSync(file, JSON.stringify({ state: "running", pid: "x" }));
      const err = await rejectsWith(api.statusSandbox(env.ctx, "sb"), "E_INTERNAL");
      expect(err.message).toContain(file);
      expect(err.message).toContain("pid");
    } finally {
      await env.cleanup();
    }
  });
});

describe("paths", () => {
  test("ids are validated before they become paths", () => {
    expect(() => sandboxDir("/r", "..")).toThrow();
    expect(() => sandboxDir("/r", "a/../../b")).toThrow();
    expect(() => containerDir("/r", "ok", "x y")).toThrow();
    expect(sandboxDir("/r", "ok")).toBe("/r/sandboxes/ok");
  });
});
