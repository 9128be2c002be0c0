import { stat, writeFile, rm } from "node:fs/promises";
import { NotFoundError, definePlugin, v } from "../../src/plugins/api.ts";
import type { ProcessRunner } from "../../src/plugins/types.ts";
import { toInterfaces, toRoutes } from "./parse.ts";

/**
 * network: the hook point that connects a container's network namespace to
 * its VM. What is real today: checking and recording the netns named by the
 * spec (network.json in the sandbox dir), reading its interfaces, addresses
 * and routes, and — with `mirror_into_guest` — sending them to the guest
 * agent (updateInterfaces/updateRoutes). Not done: the tap device and the
 * traffic path between the netns and the VM's NIC (TC redirect or bridge),
 * so `mirror_into_guest` is off by default: without a guest NIC there is
 * nothing for the addresses to go on.
 */

const NetworkOptionsSchema = v.strictObject({
  mirror_into_guest: v.optional(v.boolean(), false),
  /** Limit for each `ip` command run in the netns. */
  command_timeout_ms: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100)), 5_000),
});

export interface NetnsSnapshot {
  netns: string;
  interfaces: ReturnType<typeof toInterfaces>;
  routes: ReturnType<typeof toRoutes>;
}

/** Read a netns's addressing through `nsenter --net=PATH ip -j ...`. */
export async function readNetns(netns: string, run: ProcessRunner, timeoutMs: number): Promise<NetnsSnapshot> {
  const ip = (args: string[]) => run("ip", ["-j", ...args], { netns, timeoutMs }).then((r) => JSON.parse(r.stdout || "[]"));
  const interfaces = toInterfaces(await ip(["addr", "show"]));
  const devices = new Set(interfaces.map((i) => i.name));
  const routes = [...toRoutes(await ip(["-4", "route", "show"]), devices), ...toRoutes(await ip(["-6", "route", "show"]), devices)];
  return { netns, interfaces, routes };
}

export default definePlugin({
  name: "network",
  description: "record the container's netns, read its addressing, mirror it into the guest (tap plumbing not yet)",
  options: NetworkOptionsSchema,
  hooks: {
    async "network:prepare"(ctx) {
      if (!ctx.netnsPath) return;
      try {
        await stat(ctx.netnsPath);
      } catch {
        throw new NotFoundError(`network namespace ${ctx.netnsPath} does not exist`, { details: { field: "linux.namespaces" } });
      }
      const snap = await readNetns(ctx.netnsPath, ctx.run, ctx.options.command_timeout_ms);
      await writeFile(`${ctx.sandboxDir}/network.json`, JSON.stringify(snap), { mode: 0o600 });
      ctx.log.debug(`netns ${ctx.netnsPath}: ${snap.interfaces.length} interfaces, ${snap.routes.length} routes`);
    },
    async "network:attach"(ctx) {
      if (!ctx.netnsPath || !ctx.options.mirror_into_guest) return;
      if (!ctx.agent) {
        ctx.log.warn("no guest agent at container create: addresses not mirrored");
        return;
      }
      // Read again: prestart/createRuntime hooks may have set the netns up since sandbox:prestart.
      const snap = await readNetns(ctx.netnsPath, ctx.run, ctx.options.command_timeout_ms);
      await ctx.agent.call("updateInterfaces", { interfaces: snap.interfaces });
      await ctx.agent.call("updateRoutes", { routes: snap.routes });
    },
    async "network:release"(ctx) {
      await rm(`${ctx.sandboxDir}/network.json`, { force: true });
    },
  },
});
