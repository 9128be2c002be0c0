import { describe, expect, test } from "bun:test";
import { toInterfaces, toRoutes } from "../../../plugins/network/parse.ts";
import { isHuskTap, tapName } from "../../../plugins/network/plumb.ts";

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
  test("tap names: unique per sandbox, within IFNAMSIZ, recognised as husk's", () => {
    expect(tapName("s1", 0)).toMatch(/^hk[0-9a-f]{8}t0$/);
    expect(tapName("s1", 0)).not.toBe(tapName("s2", 0));
    expect(tapName("a".repeat(64), 15).length).toBeLessThanOrEqual(15);
    expect(isHuskTap(tapName("s1", 3))).toBe(true);
    expect(isHuskTap("eth0")).toBe(false);
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
