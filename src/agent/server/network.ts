import type * as v from "valibot";
import type { InterfaceSchema, RouteSchema } from "../protocol.ts";

/** `ip` (busybox) command lines for updateInterfaces/updateRoutes; pure, so they are unit-tested. */

type Iface = v.InferOutput<typeof InterfaceSchema>;
type Route = v.InferOutput<typeof RouteSchema>;

export function interfaceCommands(iface: Iface): string[][] {
  const cmds: string[][] = [["ip", "link", "set", "dev", iface.name, "down"]];
  if (iface.hwAddr) cmds.push(["ip", "link", "set", "dev", iface.name, "address", iface.hwAddr]);
  if (iface.mtu) cmds.push(["ip", "link", "set", "dev", iface.name, "mtu", String(iface.mtu)]);
  cmds.push(["ip", "addr", "flush", "dev", iface.name]);
  for (const a of iface.addresses) cmds.push(["ip", "addr", "add", `${a.address}/${a.prefixLength}`, "dev", iface.name]);
  cmds.push(["ip", "link", "set", "dev", iface.name, "up"]);
  return cmds;
}

export function routeCommand(route: Route): string[] {
  const cmd = ["ip", "route", "replace", route.destination];
  if (route.gateway) cmd.push("via", route.gateway);
  cmd.push("dev", route.device);
  if (route.source) cmd.push("src", route.source);
  return cmd;
}
