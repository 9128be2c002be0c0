import { describe, expect, test } from "bun:test";
import { checkNamespacePaths } from "../../../src/oci/namespaces.ts";
import type { OciSpec } from "../../../src/oci/spec.ts";

const spec = (namespaces: Array<{ type: string; path?: string }>): OciSpec => ({ ociVersion: "1.0.2", linux: { namespaces } }) as OciSpec;

describe("namespace paths", () => {
  test("a path of the right type, or none, is accepted", () => {
    expect(() =>
      checkNamespacePaths(
        spec([{ type: "ipc", path: "/proc/self/ns/ipc" }, { type: "network", path: "/proc/self/ns/net" }, { type: "pid" }]),
      ),
    ).not.toThrow();
  });
  test("a path of another type is E_INVALID_SPEC naming the field", () => {
    expect(() => checkNamespacePaths(spec([{ type: "pid" }, { type: "ipc", path: "/proc/self/ns/mnt" }]))).toThrow(
      expect.objectContaining({ code: "E_INVALID_SPEC", message: expect.stringContaining("linux.namespaces[1].path") }),
    );
  });
  test("a path that does not exist is E_INVALID_SPEC", () => {
    expect(() => checkNamespacePaths(spec([{ type: "network", path: "/nonexistent/ns" }]))).toThrow(
      expect.objectContaining({ code: "E_INVALID_SPEC" }),
    );
  });
});
