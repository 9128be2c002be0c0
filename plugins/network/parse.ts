import type { MethodRequest } from "../../src/agent/protocol.ts";

/**
 * Pure conversion of iproute2's JSON (`ip -j addr`, `ip -j route`) to the
 * agent's updateInterfaces/updateRoutes requests. Loopback and link-local
 * (kernel-made) entries are left out: the guest makes its own.
 */

export type GuestInterface = MethodRequest<"updateInterfaces">["interfaces"][number];
export type GuestRoute = MethodRequest<"updateRoutes">["routes"][number];

interface IpAddrEntry {
  ifname?: string;
  address?: string;
  mtu?: number;
  link_type?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number; scope?: string }[];
}
interface IpRouteEntry {
  dst?: string;
  gateway?: string;
  dev?: string;
  prefsrc?: string;
  protocol?: string;
}

export function toInterfaces(json: unknown): GuestInterface[] {
  if (!Array.isArray(json)) return [];
  return (json as IpAddrEntry[])
    .filter((e) => e.ifname && e.link_type !== "loopback" && e.ifname !== "lo")
    .map((e) => ({
      name: e.ifname!.slice(0, 15),
      ...(e.address && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(e.address) ? { hwAddr: e.address } : {}),
      ...(typeof e.mtu === "number" ? { mtu: e.mtu } : {}),
      addresses: (e.addr_info ?? [])
        .filter((a) => a.local && typeof a.prefixlen === "number" && a.scope !== "link" && a.scope !== "host")
        .map((a) => ({ address: a.local!, prefixLength: a.prefixlen! })),
    }));
}

export function toRoutes(json: unknown, devices: ReadonlySet<string>): GuestRoute[] {
  if (!Array.isArray(json)) return [];
  return (json as IpRouteEntry[])
    .filter((r) => r.dst && r.dev && devices.has(r.dev) && r.protocol !== "kernel")
    .map((r) => ({
      destination: r.dst!,
      device: r.dev!,
      ...(r.gateway ? { gateway: r.gateway } : {}),
      ...(r.prefsrc ? { source: r.prefsrc } : {}),
    }));
}
