import { createHash } from "node:crypto";
import type { GuestInterface, GuestRoute } from "./parse.ts";

/**
 * Pure command lines and guest requests for connecting a netns interface to
 * the VM's NIC through a tap (unit-tested; ./index.ts runs them).
 */

/** A netns interface, the tap standing for it, and the guest NIC (eth<index>). */
export interface Pair {
  index: number;
  iface: string;
  tap: string;
  /** Set once this sandbox added the interface's ingress qdisc: only then does release delete it. */
  redirected?: boolean;
}

export const TAP_PREFIX = "hk";

/**
 * The tap for interface `index` of a sandbox: unique per sandbox (so release
 * never removes another VM's tap), within IFNAMSIZ (15): "hk" + 8 hex + "t" + n.
 */
export function tapName(sandboxId: string, index: number): string {
  return `${TAP_PREFIX}${createHash("sha256").update(sandboxId).digest("hex").slice(0, 8)}t${index}`;
}

/** A tap husk made (for this or another sandbox): never a link to connect. */
export function isHuskTap(name: string): boolean {
  return /^hk[0-9a-f]{8}t\d+$/.test(name);
}

/** `tc` arguments listing an interface's ingress qdisc (present: someone redirects it already). */
export function ingressQuery(iface: string): string[] {
  return ["qdisc", "show", "dev", iface, "ingress"];
}

export function guestName(index: number): string {
  return `eth${index}`;
}

/** Everything in the netns lands on the guest NIC and back: TC ingress redirect both ways (`tc` arguments). */
export function mirrorCommands(pair: Pair): string[][] {
  const redirect = (from: string, to: string) => [
    ["qdisc", "add", "dev", from, "ingress"],
    [
      "filter",
      "add",
      "dev",
      from,
      "parent",
      "ffff:",
      "protocol",
      "all",
      "u32",
      "match",
      "u8",
      "0",
      "0",
      "action",
      "mirred",
      "egress",
      "redirect",
      "dev",
      to,
    ],
  ];
  return [...redirect(pair.iface, pair.tap), ...redirect(pair.tap, pair.iface)];
}

/**
 * Undo, tool by tool: the interface's ingress qdisc (its filters go with it)
 * if this sandbox added it, then the tap (its own qdisc goes with it).
 */
export function detachCommands(pair: Pair): [string, string[]][] {
  return [
    ...(pair.redirected ? [["tc", ["qdisc", "del", "dev", pair.iface, "ingress"]] as [string, string[]]] : []),
    ["ip", ["link", "del", "dev", pair.tap]],
  ];
}

/** The netns interfaces' addressing, renamed to the guest NICs they are plugged as. */
export function guestInterfaces(pairs: readonly Pair[], interfaces: readonly GuestInterface[]): GuestInterface[] {
  return pairs.flatMap((p) => {
    const iface = interfaces.find((i) => i.name === p.iface);
    return iface ? [{ ...iface, name: guestName(p.index) }] : [];
  });
}

/** Routes through connected interfaces, with the device renamed; routes via others are left out. */
export function guestRoutes(pairs: readonly Pair[], routes: readonly GuestRoute[]): GuestRoute[] {
  const rename = new Map(pairs.map((p) => [p.iface, guestName(p.index)]));
  return routes.flatMap((r) => {
    const device = rename.get(r.device);
    return device ? [{ ...r, device }] : [];
  });
}
