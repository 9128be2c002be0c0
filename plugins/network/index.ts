import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { InvalidSpecError, NotFoundError, definePlugin, v } from "../../src/plugins/api.ts";
import type { ProcessRunner } from "../../src/plugins/types.ts";
import { toInterfaces, toRoutes } from "./parse.ts";
import { detachCommands, guestInterfaces, guestRoutes, ingressQuery, isHuskTap, mirrorCommands, tapName, type Pair } from "./plumb.ts";

/**
 * network: connects the container's network namespace (the one podman, CNI
 * or a prestart hook set up) to the VM, as Kata does with TC mirroring:
 *
 * - network:prepare (before boot): for each interface of the netns (not lo),
 *   a tap device is created in the netns and plugged into the VM as a
 *   virtio-net NIC with that interface's MAC (QEMU runs in the netns);
 * - network:attach (the first container, after the prestart hooks): a TC
 *   ingress redirect each way between the interface and its tap, and the
 *   interface's addresses, MTU and routes set on the guest NIC (eth0, eth1...);
 * - network:release (the VM is gone): the redirects and taps are removed.
 *
 * State is in <sandboxDir>/network.json, so release works from any process.
 */

const NetworkOptionsSchema = v.strictObject({
  /** Plug the netns into the VM (taps, redirects, guest addressing). Off: only record the netns. */
  connect: v.optional(v.boolean(), true),
  /** Limit for each `ip`/`tc` command run in the netns. */
  command_timeout_ms: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100)), 5_000),
  /** At most this many interfaces get a NIC (the rest are left out, with a warning). */
  max_interfaces: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(16)), 4),
});

export interface NetnsSnapshot {
  netns: string;
  interfaces: ReturnType<typeof toInterfaces>;
  routes: ReturnType<typeof toRoutes>;
}

/** What network.json holds. */
interface NetworkRecord extends NetnsSnapshot {
  pairs: Pair[];
  attached: boolean;
}

/** Read a netns's addressing through `nsenter --net=PATH ip -j ...`. */
export async function readNetns(netns: string, run: ProcessRunner, timeoutMs: number): Promise<NetnsSnapshot> {
  const ip = (args: string[]) => run("ip", ["-j", ...args], { netns, timeoutMs }).then((r) => JSON.parse(r.stdout || "[]"));
  const interfaces = toInterfaces(await ip(["addr", "show"]));
  const devices = new Set(interfaces.map((i) => i.name));
  const routes = [...toRoutes(await ip(["-4", "route", "show"]), devices), ...toRoutes(await ip(["-6", "route", "show"]), devices)];
  return { netns, interfaces, routes };
}

const recordFile = (sandboxDir: string) => `${sandboxDir}/network.json`;

async function readRecord(sandboxDir: string): Promise<NetworkRecord | undefined> {
  try {
    return JSON.parse(await readFile(recordFile(sandboxDir), "utf8")) as NetworkRecord;
  } catch {
    return undefined;
  }
}

async function writeRecord(sandboxDir: string, record: NetworkRecord): Promise<void> {
  await writeFile(recordFile(sandboxDir), JSON.stringify(record), { mode: 0o600 });
}

export default definePlugin({
  name: "network",
  description: "connect the container's netns to the VM: taps, TC redirects, addresses and routes in the guest",
  options: NetworkOptionsSchema,
  hooks: {
    async "network:prepare"(ctx) {
      if (!ctx.netnsPath) return;
      try {
        await stat(ctx.netnsPath);
      } catch {
        throw new NotFoundError(`network namespace ${ctx.netnsPath} does not exist`, { details: { field: "linux.namespaces" } });
      }
      const { command_timeout_ms: timeoutMs, max_interfaces: max } = ctx.options;
      const snap = await readNetns(ctx.netnsPath, ctx.run, timeoutMs).catch((e: Error) => {
        throw new InvalidSpecError(`linux.namespaces: ${ctx.netnsPath} is not a usable network namespace (${e.message.split("\n")[0]})`, {
          details: { field: "linux.namespaces" },
        });
      });
      const record: NetworkRecord = { ...snap, pairs: [], attached: false };
      await writeRecord(ctx.sandboxDir, record);
      ctx.log.debug(`netns ${ctx.netnsPath}: ${snap.interfaces.length} interfaces, ${snap.routes.length} routes`);
      // Ethernet-like interfaces only (a MAC to give the guest NIC): not tunnels such as sit0, not taps.
      const eligible = snap.interfaces.filter((i) => i.hwAddr && !isHuskTap(i.name));
      const links = eligible.slice(0, max);
      if (!ctx.options.connect || !ctx.plugNic || !links.length) return;
      if (eligible.length > max) {
        ctx.log.warn(`netns ${ctx.netnsPath} has ${eligible.length} interfaces; only the first ${max} are connected to the VM`);
      }
      const inNetns = { netns: ctx.netnsPath, timeoutMs };
      for (const iface of links) {
        // One interface can be redirected to one tap only: a netns another VM
        // already connected (a container joining another's network outside
        // its pod) leaves this VM unconnected.
        if ((await ctx.run("tc", ingressQuery(iface.name), inNetns)).stdout.includes("ingress")) {
          ctx.log.warn(`netns ${ctx.netnsPath}: ${iface.name} is already redirected (another VM?); this VM gets no network`);
          return;
        }
      }
      // Recorded before they exist, so release (which ignores what is not
      // there) leaves no tap behind whenever this is interrupted.
      record.pairs = links.map((iface, index) => ({ index, iface: iface.name, tap: tapName(ctx.sandboxId, index) }));
      await writeRecord(ctx.sandboxDir, record);
      for (const [index, pair] of record.pairs.entries()) {
        const mtu = links[index]!.mtu;
        await ctx.run("ip", ["tuntap", "add", "dev", pair.tap, "mode", "tap"], inNetns);
        await ctx.run("ip", ["link", "set", "dev", pair.tap, ...(mtu ? ["mtu", String(mtu)] : []), "up"], inNetns);
      }
      for (const pair of record.pairs) {
        const mac = links[pair.index]!.hwAddr;
        ctx.plugNic({ tap: pair.tap, ...(mac ? { mac } : {}) });
      }
    },

    async "network:attach"(ctx) {
      if (!ctx.netnsPath || !ctx.options.connect) return;
      const record = await readRecord(ctx.sandboxDir);
      // Other containers of a pod share the first one's connection.
      if (!record?.pairs.length || record.attached || record.netns !== ctx.netnsPath) return;
      if (!ctx.agent) throw new Error("no guest agent at container create: cannot configure the guest NIC");
      const { command_timeout_ms: timeoutMs } = ctx.options;
      // Read again: prestart/createRuntime hooks may have changed the addressing since network:prepare.
      const snap = await readNetns(ctx.netnsPath, ctx.run, timeoutMs);
      for (const pair of record.pairs) {
        const [claim, ...rest] = mirrorCommands(pair);
        // Fails if another VM redirects this interface already; once it is ours, release removes it.
        await ctx.run("tc", claim!, { netns: ctx.netnsPath, timeoutMs });
        pair.redirected = true;
        await writeRecord(ctx.sandboxDir, record);
        for (const cmd of rest) await ctx.run("tc", cmd, { netns: ctx.netnsPath, timeoutMs });
      }
      await ctx.agent.call("updateInterfaces", { interfaces: guestInterfaces(record.pairs, snap.interfaces) });
      await ctx.agent.call("updateRoutes", { routes: guestRoutes(record.pairs, snap.routes) });
      await writeRecord(ctx.sandboxDir, { ...record, ...snap, attached: true });
      ctx.log.debug(`netns ${ctx.netnsPath}: ${record.pairs.map((p) => `${p.iface}<->${p.tap}`).join(", ")} connected to the VM`);
    },

    async "network:release"(ctx) {
      const record = await readRecord(ctx.sandboxDir);
      if (record?.pairs.length) {
        // Best effort: the netns may be gone already (then so are the taps).
        for (const pair of record.pairs) {
          for (const [tool, args] of detachCommands(pair)) {
            await ctx.run(tool, args, { netns: record.netns, timeoutMs: ctx.options.command_timeout_ms }).catch(() => {});
          }
        }
      }
      await rm(recordFile(ctx.sandboxDir), { force: true });
    },
  },
});
