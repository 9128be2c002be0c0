import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runHooks } from "../../../src/oci/hooks.ts";
import { state, tempDir } from "../../unit/hooks/helpers.ts";

/** Real network namespaces need root and iproute2: skipped visibly otherwise. */
const canNetns = process.getuid?.() === 0 && !!Bun.which("ip") && !!Bun.which("nsenter");
const NS = `husk-hooktest-${process.pid}`;

describe.skipIf(!canNetns)("hooks in the container's netns (root: ip netns)", () => {
  afterAll(async () => {
    await Bun.$`ip netns del ${NS}`.nothrow().quiet();
  });

  test("prestart and createRuntime run inside the netns; poststart does not", async () => {
    await Bun.$`ip netns add ${NS}`.quiet();
    const dir = tempDir();
    const script = join(dir, "links");
    // The hook reports the inode of the network namespace it runs in.
    writeFileSync(script, `#!/bin/sh\n/usr/bin/readlink /proc/self/ns/net > "$1"\n`);
    chmodSync(script, 0o755);
    const netnsPath = `/var/run/netns/${NS}`;
    for (const phase of ["prestart", "createRuntime", "poststart"] as const) {
      await runHooks(phase, [{ path: script, args: [script, join(dir, phase)] }], state(), { netnsPath });
    }
    const inNetns = `net:[${statSync(netnsPath).ino}]`;
    expect((await Bun.file(join(dir, "prestart")).text()).trim()).toBe(inNetns);
    expect((await Bun.file(join(dir, "createRuntime")).text()).trim()).toBe(inNetns);
    expect((await Bun.file(join(dir, "poststart")).text()).trim()).not.toBe(inNetns);
  });
});
if (!canNetns) console.warn("skip: netns hook tests need root, ip and nsenter");
