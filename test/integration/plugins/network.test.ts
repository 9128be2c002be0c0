import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Agent } from "../../../src/agent/types.ts";
import { NotFoundError } from "../../../src/host/errors.ts";
import { createLifecycle } from "../../../src/plugins/lifecycle.ts";
import { createRunner } from "../../../src/plugins/runner.ts";
import { logger } from "../../../src/host/log.ts";
import network, { readNetns } from "../../../plugins/network/index.ts";
import { tapName } from "../../../plugins/network/plumb.ts";
import { baseSpec, containerCtx, createPhases, tempDir } from "../../unit/plugins/helpers.ts";

/** The network plugin against a real network namespace (root); its parsing is unit-tested in test/unit/plugins/network.test.ts. */
const canNetns = process.getuid?.() === 0 && !!Bun.which("ip") && !!Bun.which("nsenter");
if (!canNetns) console.warn("skip: network plugin netns tests need root, ip and nsenter");
const NS = `husk-nettest-${process.pid}`;

describe.skipIf(!canNetns)("network plugin with a real netns (root)", () => {
  afterAll(() => {
    Bun.spawnSync(["ip", "netns", "del", NS]);
  });

  test("reads addressing, plugs a tap per interface, redirects both ways, configures the guest, releases", async () => {
    const sh = (cmd: string) => Bun.spawnSync(["sh", "-c", cmd]).exitCode;
    const out = (cmd: string) => Bun.spawnSync(["sh", "-c", cmd]).stdout.toString();
    expect(sh(`ip netns add ${NS}`)).toBe(0);
    expect(
      sh(
        `ip -n ${NS} link add hk0 type veth peer name hk1 && ip -n ${NS} link set hk0 up && ip -n ${NS} link set hk1 up && ` +
          `ip -n ${NS} link set hk0 address 02:00:0a:4d:00:02 && ` +
          `ip -n ${NS} addr add 10.77.0.2/24 dev hk0 && ip -n ${NS} route add default via 10.77.0.1`,
      ),
    ).toBe(0);
    const netnsPath = `/var/run/netns/${NS}`;
    const snap = await readNetns(netnsPath, createRunner(logger("test")), 5000);
    const hk0 = snap.interfaces.find((i) => i.name === "hk0");
    expect(hk0?.addresses).toEqual([{ address: "10.77.0.2", prefixLength: 24 }]);
    expect(snap.routes).toContainEqual({ destination: "default", device: "hk0", gateway: "10.77.0.1" });

    const calls: [string, unknown][] = [];
    const agent = {
      call: async (m: string, r: unknown) => {
        calls.push([m, r]);
        return {};
      },
    } as unknown as Agent;
    const lc = await createLifecycle({ config: { plugins: {} }, bundled: [network] });
    const sandboxDir = tempDir();
    const added = await lc.sandboxPrestart({ sandboxId: "s1", sandboxDir, netnsPath });
    const recorded = JSON.parse(readFileSync(join(sandboxDir, "network.json"), "utf8"));
    expect(recorded.netns).toBe(netnsPath);
    // Both veth ends are in the netns: one tap each, NICs with their MACs, in order.
    expect(recorded.pairs.map((p: { iface: string }) => p.iface).sort()).toEqual(["hk0", "hk1"]);
    const taps = [tapName("s1", 0), tapName("s1", 1)];
    expect(recorded.pairs.map((p: { tap: string }) => p.tap)).toEqual(taps);
    expect(added?.network?.netns).toBe(netnsPath);
    expect(added?.network?.nics.map((n) => n.tap)).toEqual(taps);
    const hk0Pair = recorded.pairs.find((p: { iface: string }) => p.iface === "hk0");
    expect(added?.network?.nics[hk0Pair.index]?.mac).toBe("02:00:0a:4d:00:02");
    expect(out(`ip -n ${NS} -d link show ${taps[0]}`)).toContain("tun type tap");

    await createPhases(lc, { ...containerCtx(baseSpec()), sandboxDir, netnsPath, agent });
    expect(out(`tc -n ${NS} filter show dev hk0 ingress`)).toContain(`Redirect to device ${hk0Pair.tap}`);
    expect(out(`tc -n ${NS} filter show dev ${hk0Pair.tap} ingress`)).toContain("Redirect to device hk0");
    expect(calls.map(([m]) => m)).toEqual(["updateInterfaces", "updateRoutes"]);
    const guestIfaces = (calls[0]![1] as { interfaces: { name: string; hwAddr?: string; mtu?: number; addresses: unknown[] }[] })
      .interfaces;
    const eth = guestIfaces.find((i) => i.name === `eth${hk0Pair.index}`);
    expect(eth).toEqual({
      name: `eth${hk0Pair.index}`,
      hwAddr: "02:00:0a:4d:00:02",
      mtu: 1500,
      addresses: [{ address: "10.77.0.2", prefixLength: 24 }],
    });
    expect((calls[1]![1] as { routes: unknown[] }).routes).toContainEqual({
      destination: "default",
      device: `eth${hk0Pair.index}`,
      gateway: "10.77.0.1",
    });

    // A second container of the pod: already connected, nothing again.
    await createPhases(lc, { ...containerCtx(baseSpec()), sandboxDir, netnsPath, agent });
    expect(calls).toHaveLength(2);

    await lc.sandboxPoststop({ sandboxId: "s1", sandboxDir });
    expect(existsSync(join(sandboxDir, "network.json"))).toBe(false);
    expect(out(`ip -n ${NS} link show`)).not.toContain(taps[0]);
    expect(out(`ip -n ${NS} link show`)).not.toContain(taps[1]);
    expect(out(`tc -n ${NS} qdisc show dev hk0`)).not.toContain("ingress");
  });

  test("connect = false only records the netns; no NIC is plugged", async () => {
    const netnsPath = `/var/run/netns/${NS}`;
    const lc = await createLifecycle({
      config: { plugins: { network: { enabled: true, options: { connect: false } } } },
      bundled: [network],
    });
    const sandboxDir = tempDir();
    expect(await lc.sandboxPrestart({ sandboxId: "s2", sandboxDir, netnsPath })).toBeUndefined();
    expect(JSON.parse(readFileSync(join(sandboxDir, "network.json"), "utf8")).pairs).toEqual([]);
    await lc.sandboxPoststop({ sandboxId: "s2", sandboxDir });
  });

  test("a netns another VM already connected: this VM gets no NIC, the other keeps its taps and redirects", async () => {
    const netnsPath = `/var/run/netns/${NS}`;
    const agent = { call: async () => ({}) } as unknown as Agent;
    const lc = await createLifecycle({ config: { plugins: {} }, bundled: [network] });
    const first = tempDir();
    const second = tempDir();
    expect((await lc.sandboxPrestart({ sandboxId: "a", sandboxDir: first, netnsPath }))?.network?.nics.length).toBe(2);
    await createPhases(lc, { ...containerCtx(baseSpec()), sandboxDir: first, netnsPath, agent });
    expect(await lc.sandboxPrestart({ sandboxId: "b", sandboxDir: second, netnsPath })).toBeUndefined();
    await lc.sandboxPoststop({ sandboxId: "b", sandboxDir: second });
    const show = (dev: string) => Bun.spawnSync(["ip", "-n", NS, "link", "show", dev]).exitCode;
    expect(show(tapName("a", 0))).toBe(0);
    expect(Bun.spawnSync(["tc", "-n", NS, "qdisc", "show", "dev", "hk0", "ingress"]).stdout.toString()).toContain("ingress");
    await lc.sandboxPoststop({ sandboxId: "a", sandboxDir: first });
    expect(show(tapName("a", 0))).not.toBe(0);
    expect(Bun.spawnSync(["tc", "-n", NS, "qdisc", "show", "dev", "hk0", "ingress"]).stdout.toString()).toBe("");
  });

  test("release after an interrupted prepare: taps recorded before they exist are removed, missing ones ignored", async () => {
    const netnsPath = `/var/run/netns/${NS}`;
    const sandboxDir = tempDir();
    const tap = tapName("x", 0);
    expect(Bun.spawnSync(["ip", "-n", NS, "tuntap", "add", "dev", tap, "mode", "tap"]).exitCode).toBe(0);
    const pairs = [
      { index: 0, iface: "hk0", tap },
      { index: 1, iface: "hk1", tap: tapName("x", 1) },
    ];
    writeFileSync(
      join(sandboxDir, "network.json"),
      JSON.stringify({ netns: netnsPath, interfaces: [], routes: [], pairs, attached: false }),
    );
    const lc = await createLifecycle({ config: { plugins: {} }, bundled: [network] });
    await lc.sandboxPoststop({ sandboxId: "x", sandboxDir });
    expect(Bun.spawnSync(["ip", "-n", NS, "link", "show", tap]).exitCode).not.toBe(0);
    expect(existsSync(join(sandboxDir, "network.json"))).toBe(false);
  });

  test("a path that is not a network namespace aborts sandbox prestart with E_INVALID_SPEC", async () => {
    const lc = await createLifecycle({ config: { plugins: {} }, bundled: [network] });
    const err = await lc.sandboxPrestart({ sandboxId: "s1", sandboxDir: tempDir(), netnsPath: "/etc/hostname" }).catch((e) => e);
    expect(err.code).toBe("E_INVALID_SPEC");
    expect(err.message).toContain("/etc/hostname is not a usable network namespace");
  });

  test("a netns path that does not exist aborts sandbox prestart", async () => {
    const lc = await createLifecycle({ config: { plugins: {} }, bundled: [network] });
    const err = await lc.sandboxPrestart({ sandboxId: "s1", sandboxDir: tempDir(), netnsPath: "/var/run/netns/nope-husk" }).catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toContain("/var/run/netns/nope-husk");
  });
});
