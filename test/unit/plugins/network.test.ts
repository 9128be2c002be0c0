import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Agent } from "../../../src/agent/types.ts";
import { NotFoundError } from "../../../src/errors.ts";
import { createLifecycle } from "../../../src/plugins/lifecycle.ts";
import { createRunner } from "../../../src/plugins/runner.ts";
import { logger } from "../../../src/log.ts";
import network, { readNetns } from "../../../plugins/network/index.ts";
import { toInterfaces, toRoutes } from "../../../plugins/network/parse.ts";
import { baseSpec, containerCtx, createPhases, tempDir } from "./helpers.ts";

describe("network: iproute2 JSON to agent requests (pure)", () => {
  const addr = [
    { ifname: "lo", link_type: "loopback", addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8, scope: "host" }] },
    {
      ifname: "eth0",
      link_type: "ether",
      address: "0a:58:0a:f4:00:05",
      mtu: 1450,
      addr_info: [
        { family: "inet", local: "10.244.0.5", prefixlen: 24, scope: "global" },
        { family: "inet6", local: "fe80::858:aff:fef4:5", prefixlen: 64, scope: "link" },
        { family: "inet6", local: "fd00::5", prefixlen: 64, scope: "global" },
      ],
    },
  ];
  test("interfaces: loopback and link-local left out", () => {
    expect(toInterfaces(addr)).toEqual([
      {
        name: "eth0",
        hwAddr: "0a:58:0a:f4:00:05",
        mtu: 1450,
        addresses: [
          { address: "10.244.0.5", prefixLength: 24 },
          { address: "fd00::5", prefixLength: 64 },
        ],
      },
    ]);
    expect(toInterfaces("garbage")).toEqual([]);
  });
  test("routes: kernel-made and other devices left out", () => {
    const routes = [
      { dst: "default", gateway: "10.244.0.1", dev: "eth0" },
      { dst: "10.244.0.0/24", dev: "eth0", protocol: "kernel", scope: "link", prefsrc: "10.244.0.5" },
      { dst: "10.96.0.0/12", gateway: "10.244.0.1", dev: "eth0", prefsrc: "10.244.0.5" },
      { dst: "192.168.0.0/16", dev: "tun0" },
    ];
    expect(toRoutes(routes, new Set(["eth0"]))).toEqual([
      { destination: "default", device: "eth0", gateway: "10.244.0.1" },
      { destination: "10.96.0.0/12", device: "eth0", gateway: "10.244.0.1", source: "10.244.0.5" },
    ]);
  });
});

const canNetns = process.getuid?.() === 0 && !!Bun.which("ip") && !!Bun.which("nsenter");
if (!canNetns) console.warn("skip: network plugin netns tests need root, ip and nsenter");
const NS = `husk-nettest-${process.pid}`;

describe.skipIf(!canNetns)("network plugin with a real netns (root)", () => {
  afterAll(() => {
    Bun.spawnSync(["ip", "netns", "del", NS]);
  });

  test("reads addressing, records the netns, mirrors into the guest when asked, releases", async () => {
    const sh = (cmd: string) => Bun.spawnSync(["sh", "-c", cmd]).exitCode;
    expect(sh(`ip netns add ${NS}`)).toBe(0);
    expect(
      sh(
        `ip -n ${NS} link add hk0 type veth peer name hk1 && ip -n ${NS} link set hk0 up && ip -n ${NS} link set hk1 up && ` +
          `ip -n ${NS} addr add 10.77.0.2/24 dev hk0 && ip -n ${NS} route add default via 10.77.0.1`,
      ),
    ).toBe(0);
    const netnsPath = `/var/run/netns/${NS}`;
    const snap = await readNetns(netnsPath, createRunner(logger("test")), 5000);
    const hk0 = snap.interfaces.find((i) => i.name === "hk0");
    expect(hk0?.addresses).toEqual([{ address: "10.77.0.2", prefixLength: 24 }]);
    expect(snap.routes).toContainEqual({ destination: "default", device: "hk0", gateway: "10.77.0.1" });

    const calls: [string, unknown][] = [];
    const agent = { call: async (m: string, r: unknown) => (calls.push([m, r]), {}) } as unknown as Agent;
    const lc = await createLifecycle({
      config: { plugins: { network: { enabled: true, options: { mirror_into_guest: true } } } },
      bundled: [network],
    });
    const sandboxDir = tempDir();
    await lc.sandboxPrestart({ sandboxId: "s1", sandboxDir, netnsPath });
    const recorded = JSON.parse(readFileSync(join(sandboxDir, "network.json"), "utf8"));
    expect(recorded.netns).toBe(netnsPath);
    expect(recorded.interfaces.map((i: { name: string }) => i.name).sort()).toEqual(["hk0", "hk1"]);

    await createPhases(lc, { ...containerCtx(baseSpec()), netnsPath, agent });
    expect(calls.map(([m]) => m)).toEqual(["updateInterfaces", "updateRoutes"]);
    expect((calls[0]![1] as { interfaces: { name: string }[] }).interfaces.map((i) => i.name).sort()).toEqual(["hk0", "hk1"]);

    await lc.sandboxPoststop({ sandboxId: "s1", sandboxDir });
    expect(existsSync(join(sandboxDir, "network.json"))).toBe(false);
  });

  test("a netns path that does not exist aborts sandbox prestart", async () => {
    const lc = await createLifecycle({ config: { plugins: {} }, bundled: [network] });
    const err = await lc.sandboxPrestart({ sandboxId: "s1", sandboxDir: tempDir(), netnsPath: "/var/run/netns/nope-husk" }).catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toContain("/var/run/netns/nope-husk");
  });
});
