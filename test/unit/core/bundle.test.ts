import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadBundle } from "../../../src/oci/bundle.ts";
import { makeBundle, minimalSpec, tempDir } from "./helpers.ts";

/** Loading a bundle: config.json validated with the JSON path of a bad field; rootfs must exist. */

let dir: string;
beforeAll(() => {
  dir = tempDir("husk-bundle-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function codeOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error("expected an error");
}

describe("loadBundle", () => {
  test("a valid bundle: absolute paths and the parsed spec (unknown fields kept)", () => {
    const spec = { ...minimalSpec(["/bin/echo", "hi"]), vendorExtension: { x: 1 } };
    const b = makeBundle(dir, "ok", spec);
    const loaded = loadBundle(join(b, "..", "ok"));
    expect(loaded.bundle).toBe(b);
    expect(loaded.rootfs).toBe(join(b, "rootfs"));
    expect(loaded.spec.process?.args).toEqual(["/bin/echo", "hi"]);
    expect((loaded.spec as Record<string, unknown>).vendorExtension).toEqual({ x: 1 });
  });

  test("missing bundle or config.json → E_BUNDLE", () => {
    expect(codeOf(() => loadBundle(join(dir, "absent"))).code).toBe("E_BUNDLE");
    mkdirSync(join(dir, "empty"));
    expect(codeOf(() => loadBundle(join(dir, "empty"))).code).toBe("E_BUNDLE");
  });

  test("bad JSON or bad field → E_INVALID_SPEC naming the JSON path", () => {
    const b = makeBundle(dir, "bad");
    writeFileSync(join(b, "config.json"), "{ nope");
    expect(codeOf(() => loadBundle(b)).code).toBe("E_INVALID_SPEC");
    const spec = minimalSpec();
    writeFileSync(join(b, "config.json"), JSON.stringify({ ...spec, process: { ...spec.process, args: [] } }));
    const e = codeOf(() => loadBundle(b));
    expect(e.code).toBe("E_INVALID_SPEC");
    expect(e.message).toContain("process.args");
    writeFileSync(join(b, "config.json"), JSON.stringify({ ...spec, mounts: [{ destination: "/x" }, { destination: 5 }] }));
    expect(codeOf(() => loadBundle(b)).message).toContain("mounts[1].destination");
  });

  test("an unknown capability → E_INVALID_SPEC naming the capability and its JSON path", () => {
    const b = makeBundle(dir, "caps");
    const spec = minimalSpec();
    const capabilities = { bounding: ["CAP_CHOWN", "CAP_TEST"], effective: ["CAP_CHOWN"] };
    writeFileSync(join(b, "config.json"), JSON.stringify({ ...spec, process: { ...spec.process, capabilities } }));
    const e = codeOf(() => loadBundle(b));
    expect(e.code).toBe("E_INVALID_SPEC");
    expect(e.message).toContain("process.capabilities.bounding[1]");
    expect(e.message).toContain('unknown capability "CAP_TEST"');
    capabilities.bounding = ["CAP_CHOWN", "CAP_CHECKPOINT_RESTORE"];
    writeFileSync(join(b, "config.json"), JSON.stringify({ ...spec, process: { ...spec.process, capabilities } }));
    expect(loadBundle(b).spec.process?.capabilities?.bounding).toEqual(["CAP_CHOWN", "CAP_CHECKPOINT_RESTORE"]);
  });

  test("no root or a missing rootfs → clear errors", () => {
    const b = makeBundle(dir, "noroot");
    const { root: _r, ...noRoot } = minimalSpec();
    writeFileSync(join(b, "config.json"), JSON.stringify(noRoot));
    const e = codeOf(() => loadBundle(b));
    expect(e.code).toBe("E_INVALID_SPEC");
    expect(e.message).toContain("root.path");
    const c = makeBundle(dir, "norootfs");
    rmSync(join(c, "rootfs"), { recursive: true });
    expect(codeOf(() => loadBundle(c)).code).toBe("E_BUNDLE");
  });
});
