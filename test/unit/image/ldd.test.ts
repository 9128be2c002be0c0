import { describe, expect, test } from "bun:test";
import { parseLdd } from "../../../src/image/ldd.ts";

describe("parseLdd", () => {
  test("libraries and the loader, in order, without the vdso", () => {
    const out = `\tlinux-vdso.so.1 (0x00007ffd2b1f3000)
\tlibseccomp.so.2 => /lib/x86_64-linux-gnu/libseccomp.so.2 (0x00007f329ae79000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f329ac7f000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f329aff5000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f329ac7f000)
`;
    expect(parseLdd(out)).toEqual({
      paths: ["/lib/x86_64-linux-gnu/libseccomp.so.2", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"],
      missing: [],
      isStatic: false,
    });
  });

  test("static executables", () => {
    expect(parseLdd("\tnot a dynamic executable\n").isStatic).toBe(true);
    expect(parseLdd("\tstatically linked\n").isStatic).toBe(true);
  });

  test("unresolved libraries are reported", () => {
    const r = parseLdd("\tlibyajl.so.2 => not found\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n");
    expect(r.missing).toEqual(["libyajl.so.2"]);
    expect(r.paths).toEqual(["/lib/x86_64-linux-gnu/libc.so.6"]);
  });
});
