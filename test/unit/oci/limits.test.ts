import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { readProcessFile } from "../../../src/cli/lib/exec-process.ts";
import { updateResources } from "../../../src/cli/lib/resources.ts";
import { validateContainerConfig } from "../../../src/core/container/config.ts";
import { loadBundle } from "../../../src/oci/bundle.ts";
import { describeSize, formatLimit, jsonShapeProblem, jsonTextDepth, LIMITS, readBounded, valueDepth } from "../../../src/oci/limits.ts";
import { annotationBytes, envBytes, ProcessSchema, SpecSchema, type OciSpec } from "../../../src/oci/spec.ts";
import { containerConfig, makeBundle, minimalSpec, tempDir } from "../core/helpers.ts";

/**
 * Every size bound of docs/limits.md at its door: refused with a stable code,
 * a message naming the limit and the value, and (for config.json) before the
 * file is read or parsed. The values just under each limit pass.
 */

let dir: string;
beforeAll(() => {
  dir = tempDir("husk-limits-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function errorOf(fn: () => unknown): { code: string; message: string; details?: Record<string, unknown> } {
  try {
    fn();
  } catch (e) {
    return e as { code: string; message: string; details?: Record<string, unknown> };
  }
  throw new Error("expected an error");
}

function specWith(over: Record<string, unknown>): OciSpec {
  return { ...minimalSpec(["/bin/true"]), ...over } as OciSpec;
}

function bundleWith(name: string, spec: unknown): string {
  const b = makeBundle(dir, name);
  writeFileSync(join(b, "config.json"), typeof spec === "string" ? spec : JSON.stringify(spec));
  return b;
}

/** Annotations of exactly `bytes` bytes (keys + values), in entries of about 1000 bytes. */
function annotationsOf(bytes: number): Record<string, string> {
  const out: Record<string, string> = {};
  let left = bytes;
  for (let i = 0; left > 0; i++) {
    const key = `k${String(i).padStart(6, "0")}`;
    const value = "v".repeat(Math.max(0, Math.min(1000, left - key.length)));
    out[key] = value;
    left -= key.length + value.length;
  }
  expect(annotationBytes(out)).toBe(bytes);
  return out;
}

describe("limits helpers", () => {
  test("formatLimit writes whole KiB/MiB as such, other sizes in bytes", () => {
    expect(formatLimit(4 * 1024 * 1024)).toBe("4 MiB");
    expect(formatLimit(256 * 1024)).toBe("256 KiB");
    expect(formatLimit(107)).toBe("107-byte");
    expect(formatLimit(LIMITS.argBytes)).toBe("131071-byte");
  });

  test("jsonTextDepth counts brackets outside strings and stops past the limit", () => {
    expect(jsonTextDepth('{"a":[1,{"b":[]}]}')).toBe(4);
    expect(jsonTextDepth('{"a":"[[[[[[\\"[[[["}')).toBe(1);
    expect(jsonTextDepth("[".repeat(1_000_000))).toBe(LIMITS.jsonDepth + 1);
    expect(jsonTextDepth("3")).toBe(0);
  });

  test("valueDepth is iterative and stops on a cycle", () => {
    expect(valueDepth({ a: [1, { b: [] }] })).toBe(4);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(valueDepth(cyclic)).toBe(LIMITS.jsonDepth + 1);
    let deep: unknown = [];
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(valueDepth(deep)).toBe(LIMITS.jsonDepth + 1);
    expect(jsonShapeProblem(deep, 1000, "x")).toBe("x nests more than 64 levels deep, over the 64-level limit");
    expect(jsonShapeProblem({ s: "a".repeat(2000) }, 1000, "x")).toBe("x is 2008 bytes as compact JSON, over the 1000-byte limit");
    expect(jsonShapeProblem({ s: "é".repeat(10) }, 1000, "x")).toBeUndefined();
  });

  test("readBounded refuses a large file from its size, without reading it", () => {
    const f = join(dir, "sparse");
    writeFileSync(f, "");
    truncateSync(f, 20 * 1024 * 1024 * 1024); // 20 GiB, sparse: reading it would take long
    const t = performance.now();
    const r = readBounded(f, 1024);
    expect(performance.now() - t).toBeLessThan(100);
    expect(r).toEqual({ ok: false, bytes: 20 * 1024 * 1024 * 1024, exact: true });
    expect(describeSize(r as { bytes: number; exact: boolean })).toBe(`is ${20 * 1024 * 1024 * 1024} bytes`);
    writeFileSync(f, "0123456789");
    expect(readBounded(f, 10)).toEqual({ ok: true, text: "0123456789" });
    expect(readBounded(f, 9)).toEqual({ ok: false, bytes: 10, exact: true });
  });

  test("readBounded reads a pipe only up to the limit + 1", async () => {
    const fifo = join(dir, "fifo");
    Bun.spawnSync(["mkfifo", fifo]);
    // A writer that never stops: the reader must stop at limit + 1 bytes.
    const writer = Bun.spawn(["sh", "-c", `yes 0123456789 > ${fifo}`], { stderr: "ignore" });
    try {
      const r = readBounded(fifo, 4096);
      expect(r).toEqual({ ok: false, bytes: 4097, exact: false });
      expect(describeSize(r as { bytes: number; exact: boolean })).toBe("is more than 4096 bytes");
    } finally {
      writer.kill();
      await writer.exited;
    }
  });
});

describe("config.json at the door (loadBundle)", () => {
  test("a 20 MB config.json (20,000 annotations of 1,000 bytes) is refused at once, from its size", () => {
    const annotations: Record<string, string> = {};
    for (let i = 0; i < 20_000; i++) annotations[`k${i}`] = "v".repeat(1000);
    const b = bundleWith("huge", specWith({ annotations }));
    const t = performance.now();
    const e = errorOf(() => loadBundle(b));
    expect(performance.now() - t).toBeLessThan(200);
    expect(e.code).toBe("E_INVALID_SPEC");
    expect(e.message).toMatch(/config\.json is \d{8} bytes, over the 4 MiB limit$/);
    expect(e.details).toMatchObject({ limit: LIMITS.configFileBytes });
    expect(e.details!.bytes as number).toBeGreaterThan(20_000_000);
  });

  test("nesting deeper than 64 levels is refused before JSON.parse (which would recurse)", () => {
    const deep = `{"ociVersion":"1.0.2","root":{"path":"rootfs"},"x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
    const e = errorOf(() => loadBundle(bundleWith("deep", deep)));
    expect(e.code).toBe("E_INVALID_SPEC");
    expect(e.message).toMatch(/config\.json nests more than 64 levels deep, over the 64-level limit$/);
    // Brackets inside strings do not count.
    const b = bundleWith("brackets", specWith({ hostname: "[".repeat(1000) }));
    expect(loadBundle(b).spec.hostname).toBe("[".repeat(1000));
  });

  test("annotations: 256 KiB of keys and values pass, one byte more is refused naming count and size", () => {
    expect(
      loadBundle(bundleWith("ann-ok", specWith({ annotations: annotationsOf(LIMITS.annotationsBytes) }))).spec.annotations,
    ).toBeDefined();
    const over = annotationsOf(LIMITS.annotationsBytes + 1);
    const e = errorOf(() => loadBundle(bundleWith("ann-over", specWith({ annotations: over }))));
    expect(e.code).toBe("E_INVALID_SPEC");
    expect(e.message).toContain(
      `annotations: ${Object.keys(over).length} annotations of ${LIMITS.annotationsBytes + 1} bytes (keys and values), over the 256 KiB limit`,
    );
  });

  test("environment: 512 KiB in total, one variable at most MAX_ARG_STRLEN", () => {
    const spec = minimalSpec();
    const at = (env: string[]) => specWith({ process: { ...spec.process, env } });
    // 5 variables of 100,000 bytes: 500,005 bytes with their NULs — under 512 KiB.
    const five = Array.from({ length: 5 }, (_, i) => `V${i}=${"x".repeat(100_000 - 3)}`);
    expect(envBytes(five)).toBe(500_005);
    expect(loadBundle(bundleWith("env-ok", at(five))).spec.process?.env).toHaveLength(5);
    const six = [...five, `V5=${"x".repeat(100_000 - 3)}`];
    const e = errorOf(() => loadBundle(bundleWith("env-over", at(six))));
    expect(e.code).toBe("E_INVALID_SPEC");
    expect(e.message).toContain("process.env: the environment is 600006 bytes, over the 512 KiB limit");
    const long = errorOf(() => loadBundle(bundleWith("env-long", at([`A=${"x".repeat(LIMITS.argBytes)}`]))));
    expect(long.message).toContain(
      `process.env[0]: the variable is ${LIMITS.argBytes + 2} bytes, over the 131071-byte limit of one variable (MAX_ARG_STRLEN)`,
    );
    const arg = errorOf(() =>
      loadBundle(bundleWith("arg-long", specWith({ process: { ...spec.process, args: ["/bin/echo", "é".repeat(70_000)] } }))),
    );
    expect(arg.message).toContain("process.args[1]: the argument is 140000 bytes, over the 131071-byte limit of one argument");
  });

  test("mounts: 1024 pass, 1025 are refused", () => {
    const mounts = (n: number) => Array.from({ length: n }, (_, i) => ({ destination: `/m${i}`, type: "tmpfs", source: "tmpfs" }));
    expect(loadBundle(bundleWith("mounts-ok", specWith({ mounts: mounts(LIMITS.mounts) }))).spec.mounts).toHaveLength(LIMITS.mounts);
    const e = errorOf(() => loadBundle(bundleWith("mounts-over", specWith({ mounts: mounts(LIMITS.mounts + 1) }))));
    expect(e.code).toBe("E_INVALID_SPEC");
    expect(e.message).toContain("mounts: 1025 mounts, over the limit of 1024");
  });

  test("the spec as compact JSON must fit the 768 KiB the guest receives in one frame", () => {
    // Whitespace does not count: a pretty-printed file of a small spec is fine.
    const pretty = JSON.stringify(specWith({ hostname: "h" }), null, 2) + " ".repeat(2 * 1024 * 1024);
    expect(loadBundle(bundleWith("pretty", pretty)).spec.hostname).toBe("h");
    const e = errorOf(() => loadBundle(bundleWith("fat", specWith({ vendor: "x".repeat(800 * 1024) }))));
    expect(e.code).toBe("E_INVALID_SPEC");
    expect(e.message).toMatch(/config\.json: the spec is \d+ bytes as compact JSON, over the 768 KiB limit$/);
  });

  test("paths are bounded at PATH_MAX; a refused huge string is quoted only in part", () => {
    const e = errorOf(() => loadBundle(bundleWith("longroot", specWith({ root: { path: "r".repeat(300_000) } }))));
    expect(e.code).toBe("E_INVALID_SPEC");
    expect(e.message).toContain("root.path: the path is 300000 bytes, over the 4095-byte limit (PATH_MAX)");
    expect(e.message.length).toBeLessThan(300);
    const mount = errorOf(() => loadBundle(bundleWith("longmount", specWith({ mounts: [{ destination: `/${"d".repeat(5000)}` }] }))));
    expect(mount.message).toContain("mounts[0].destination: the path is 5001 bytes, over the 4095-byte limit");
    const wrongType = errorOf(() => loadBundle(bundleWith("wrongtype", specWith({ process: "p".repeat(300_000) }))));
    expect(wrongType.message).toMatch(/process: Invalid type: Expected Object but received "p{64}"… \(300000 characters\)$/);
    const cap = errorOf(() =>
      loadBundle(
        bundleWith("longcap", specWith({ process: { ...minimalSpec().process, capabilities: { bounding: ["C".repeat(10_000)] } } })),
      ),
    );
    expect(cap.message).toMatch(/unknown capability "C{64}"… \(10000 characters\)$/);
  });

  test("the API door: annotations passed beside the spec are bounded too", () => {
    const b = makeBundle(dir, "api");
    const config = { ...containerConfig("c1", b), annotations: annotationsOf(LIMITS.annotationsBytes + 10) };
    const e = errorOf(() => validateContainerConfig(config));
    expect(e.code).toBe("E_INVALID_SPEC");
    expect(e.message).toContain("container c1: annotations:");
    expect(e.message).toContain("over the 256 KiB limit");
  });

  test("the schemas are the bound for every other door (shim and agent protocols, plugins' amendments)", () => {
    const fat = specWith({ annotations: annotationsOf(LIMITS.annotationsBytes + 1) });
    expect(v.safeParse(SpecSchema, fat).success).toBe(false);
    const p = minimalSpec().process!;
    expect(v.safeParse(ProcessSchema, { ...p, env: [`A=${"x".repeat(LIMITS.envBytes)}`] }).success).toBe(false);
    expect(v.safeParse(ProcessSchema, { ...p, args: Array.from({ length: 7 }, () => "x".repeat(120_000)) }).success).toBe(false);
  });
});

describe("exec --process and update --resources files", () => {
  test("a process file over 1 MiB is refused from its size", () => {
    const f = join(dir, "process-big.json");
    writeFileSync(f, JSON.stringify({ ...minimalSpec().process, pad: "x".repeat(LIMITS.processFileBytes) }));
    const e = errorOf(() => readProcessFile(f));
    expect(e.code).toBe("E_INVALID_SPEC");
    expect(e.message).toMatch(/process file .*process-big\.json is \d+ bytes, over the 1 MiB limit$/);
  });

  test("a deep process file is refused before it is parsed; a bad environment names the field", () => {
    const f = join(dir, "process-deep.json");
    writeFileSync(f, `{"x":${"[".repeat(10_000)}${"]".repeat(10_000)}}`);
    expect(errorOf(() => readProcessFile(f)).message).toContain("nests more than 64 levels deep, over the 64-level limit");
    const g = join(dir, "process-env.json");
    writeFileSync(g, JSON.stringify({ ...minimalSpec().process, env: Array.from({ length: 6 }, (_, i) => `V${i}=${"x".repeat(99_997)}`) }));
    const e = errorOf(() => readProcessFile(g));
    expect(e.code).toBe("E_INVALID_SPEC");
    expect(e.message).toContain("env: the environment is 600006 bytes, over the 512 KiB limit");
  });

  test("a resources file over 1 MiB is refused from its size", () => {
    const f = join(dir, "resources-big.json");
    writeFileSync(f, JSON.stringify({ pids: { limit: 10 }, pad: "x".repeat(LIMITS.processFileBytes) }));
    const e = errorOf(() => updateResources({ resources: f }));
    expect(e.code).toBe("E_INVALID_SPEC");
    expect(e.message).toMatch(/resources file .* is \d+ bytes, over the 1 MiB limit$/);
  });
});

describe("a file that is not there or is a directory keeps its old error", () => {
  test("config.json a directory → E_BUNDLE cannot read", () => {
    const b = join(dir, "dirconfig");
    mkdirSync(join(b, "config.json"), { recursive: true });
    mkdirSync(join(b, "rootfs"));
    expect(errorOf(() => loadBundle(b)).code).toBe("E_BUNDLE");
  });
});
