import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { canRun, ensureTemplate, husk, makeBundle, makeEnv, type E2eEnv } from "./env.ts";

/**
 * Container networking through the VM: a network namespace set up as CNI or
 * podman would (a veth pair, the container's end with an address and a
 * default route), named in the bundle. The container, in its VM, reaches a
 * server on the host side of the veth and the host reaches the guest; delete
 * leaves the netns as it found it (no tap, no TC redirect).
 */

const haveTools = !!Bun.which("ip") && !!Bun.which("tc") && !!Bun.which("nsenter") && process.getuid?.() === 0;
if (canRun && !haveTools) console.warn("SKIP e2e network: needs root, ip, tc and nsenter");

const NS = `husk-e2e-net-${process.pid}`;
const HOST_IF = `hkn${process.pid % 100000}`;
const sh = (cmd: string) => Bun.spawnSync(["sh", "-c", cmd], { stdout: "pipe", stderr: "pipe" });

let env: E2eEnv;
let server: ReturnType<typeof Bun.serve> | undefined;

describe.skipIf(!canRun || !haveTools)("container networking (veth in a netns → tap → virtio-net)", () => {
  beforeAll(() => {
    env = makeEnv("net");
    ensureTemplate(env, 1); // one NIC: the VM is a clone, its NIC gets the netns interface's MAC
    const setup = sh(
      [
        `ip netns add ${NS}`,
        `ip link add ${HOST_IF} type veth peer name eth0 netns ${NS}`,
        `ip addr add 10.231.7.1/24 dev ${HOST_IF}`,
        `ip link set ${HOST_IF} up`,
        `ip -n ${NS} link set lo up`,
        `ip -n ${NS} link set eth0 up`,
        `ip -n ${NS} addr add 10.231.7.2/24 dev eth0`,
        `ip -n ${NS} route add default via 10.231.7.1`,
      ].join(" && "),
    );
    if (setup.exitCode !== 0) throw new Error(`netns setup failed: ${setup.stderr.toString()}`);
    server = Bun.serve({ hostname: "10.231.7.1", port: 0, fetch: () => new Response("hello from the host\n") });
  });
  afterAll(async () => {
    server?.stop(true);
    await env.cleanup();
    sh(`ip link del ${HOST_IF}; ip netns del ${NS}`);
  });

  test("the container reaches the host through its netns, and the host reaches it", { timeout: 300_000 }, async () => {
    const port = server!.port;
    const bundle = makeBundle(env, "b1", [
      "sh",
      "-c",
      "ip -o -4 addr show eth0; ip route; " +
        // nc, not wget: Debian's busybox-static wget segfaults (on the host too).
        `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 30 10.231.7.1 ${port} && ` +
        "mkdir -p /dev/shm/www && echo hello from the guest > /dev/shm/www/index.html && exec httpd -f -p 8080 -h /dev/shm/www",
    ]);
    const file = join(bundle, "config.json");
    const spec = JSON.parse(readFileSync(file, "utf8"));
    spec.linux.namespaces = spec.linux.namespaces.filter((n: { type: string }) => n.type !== "network");
    spec.linux.namespaces.push({ type: "network", path: `/var/run/netns/${NS}` });
    writeFileSync(file, JSON.stringify(spec));

    const running = husk(env, ["run", "--bundle", bundle, "n1"]);
    // Host → guest: the VM answers for the container's address (through the veth, the TC redirect and the tap).
    let fromGuest = "";
    for (let i = 0; i < 240 && !fromGuest; i++) {
      await Bun.sleep(500);
      fromGuest = await fetch("http://10.231.7.2:8080/", { signal: AbortSignal.timeout(2000) })
        .then((r) => r.text())
        .catch(() => "");
    }
    expect(fromGuest).toBe("hello from the guest\n");
    expect(JSON.parse(readFileSync(join(env.root, "sandboxes", "n1", "vm-state.json"), "utf8")).boot.mode).toBe("clone");
    expect(sh(`tc -n ${NS} filter show dev eth0 ingress`).stdout.toString()).toMatch(/Redirect to device hk[0-9a-f]{8}t0/);

    expect((await husk(env, ["kill", "n1", "KILL"])).code).toBe(0);
    const run = await running;
    expect(run.code).toBe(137);
    // The guest NIC carried the netns's address and default route; the container reached the host.
    expect(run.stdout).toContain("10.231.7.2/24");
    expect(run.stdout).toMatch(/default via 10\.231\.7\.1 dev eth0/);
    expect(run.stdout).toContain("hello from the host");

    const del = await husk(env, ["delete", "--force", "n1"]);
    expect(del.code).toBe(0);
    // The netns is as CNI left it: no tap, no redirect.
    expect(sh(`ip -n ${NS} link show`).stdout.toString()).not.toMatch(/hk[0-9a-f]{8}t/);
    expect(sh(`tc -n ${NS} qdisc show dev eth0`).stdout.toString()).not.toContain("ingress");
  });
});
