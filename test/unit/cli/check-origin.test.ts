import { describe, expect, test } from "bun:test";
import { describeOrigin } from "../../../src/cli/lib/check.ts";

describe("husk check: where the image came from", () => {
  test("built here, built elsewhere, imported, unknown", () => {
    expect(describeOrigin({ kind: "built", host: "h1", at: "2026-12-01T00:00:00.000Z" }, "h1")).toBe(
      "built here on 2026-12-01T00:00:00.000Z",
    );
    expect(describeOrigin({ kind: "built", host: "b", at: "2026-12-01T00:00:00.000Z" }, "h1")).toBe(
      "built on b on 2026-12-01T00:00:00.000Z",
    );
    const imported = describeOrigin(
      {
        kind: "imported",
        file: "/srv/img.tar.zst",
        archiveSha256: "a".repeat(64),
        at: "2026-12-02T00:00:00.000Z",
        built: { host: "b", at: "2026-12-01T00:00:00.000Z" },
      },
      "h1",
    );
    expect(imported).toBe(
      "imported from /srv/img.tar.zst on 2026-12-02T00:00:00.000Z (archive sha256 aaaaaaaaaaaa…; built on b on 2026-12-01T00:00:00.000Z)",
    );
    expect(describeOrigin(undefined)).toContain("unknown");
  });
});
