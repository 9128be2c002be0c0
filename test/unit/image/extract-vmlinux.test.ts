import { describe, expect, test } from "bun:test";
import { findPayloads, isElf, parseShowDepends } from "../../../src/image/extract-vmlinux.ts";

describe("findPayloads", () => {
  test("finds the xz stream inside a bzImage-like blob, first candidates first", () => {
    const data = new Uint8Array(64);
    data.set([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 20);
    data.set([0x1f, 0x8b, 0x08], 40);
    const p = findPayloads(data);
    expect(p).toContainEqual({ compression: "xz", offset: 20 });
    expect(p).toContainEqual({ compression: "gzip", offset: 40 });
    expect(p[0]).toEqual({ compression: "xz", offset: 20 });
  });

  test("a partial magic at the end is not a match", () => {
    const data = new Uint8Array([0, 0, 0xfd, 0x37, 0x7a]);
    expect(findPayloads(data).filter((p) => p.compression === "xz")).toEqual([]);
  });

  test("several occurrences are all candidates, up to the limit", () => {
    const data = new Uint8Array(32);
    for (const o of [1, 9, 17, 25]) data.set([0x1f, 0x8b, 0x08], o);
    expect(
      findPayloads(data, 3)
        .filter((p) => p.compression === "gzip")
        .map((p) => p.offset),
    ).toEqual([1, 9, 17]);
  });
});

test("isElf", () => {
  expect(isElf(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2]))).toBe(true);
  expect(isElf(new Uint8Array([0x4d, 0x5a, 0, 0, 0]))).toBe(false);
});

test("parseShowDepends: insmod lines in order, builtins skipped", () => {
  const out = `builtin virtio_ring
insmod /lib/modules/6.1.0-56-amd64/kernel/drivers/virtio/virtio.ko 
insmod /lib/modules/6.1.0-56-amd64/kernel/drivers/virtio/virtio_pci.ko  force_legacy=1
`;
  expect(parseShowDepends(out)).toEqual([
    "/lib/modules/6.1.0-56-amd64/kernel/drivers/virtio/virtio.ko",
    "/lib/modules/6.1.0-56-amd64/kernel/drivers/virtio/virtio_pci.ko",
  ]);
});
