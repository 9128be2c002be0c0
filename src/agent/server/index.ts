import net from "node:net";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { AgentError } from "../../host/errors.ts";
import { getPid, powerOff, setChildSubreaper, syncFilesystems } from "../../host/ffi/process.ts";
import { logger } from "../../host/log.ts";
import { VERSION } from "../../host/version.ts";
import { EVENTS, METHODS } from "../protocol.ts";
import { socketTransport } from "../transport/unix.ts";
import { findVirtioPort, openPortDevice, PortSessions } from "../transport/virtio-port.ts";
import { Channel } from "../wire/channel.ts";
import { CrunRuntime } from "./crun.ts";
import { cloneInit } from "./clone.ts";
import { ensureGuestMounts, guestMounts, sharedMount } from "./mounts.ts";
import { AgentService, type GuestSystem } from "./service.ts";
import { OrphanSweeper, trackSpawn } from "./orphans.ts";
import { Reaper } from "./reaper.ts";

const log = logger("agent");

export interface AgentOptions {
  /** Name of the virtio-serial port (default agent.channel.0). */
  portName?: string;
  /** Use this device instead of looking the port up by name. */
  device?: string;
  /** Serve on a unix socket instead of a port (host testing). */
  listen?: string;
  /** Bundles, console sockets, crun state (default /run/husk). */
  stateDir?: string;
  /** Where the 9p share is mounted (default /run/husk/shared). */
  sharedDir?: string;
  /** Mount what is missing (default true unless listening on a socket). */
  mount?: boolean;
  /** crun executable. */
  crun?: string;
  /** Extra crun global flags. */
  crunArgs?: string[];
  /** How long to wait for the port to appear (default 30 s). */
  portTimeoutMs?: number;
  /** Template VM: leave the 9p share unmounted until cloneInit (QEMU cannot save a VM with it mounted). */
  deferShared?: boolean;
}

export function parseAgentArgs(argv: string[]): AgentOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: "string" },
      device: { type: "string" },
      listen: { type: "string" },
      "state-dir": { type: "string" },
      "shared-dir": { type: "string" },
      "no-mount": { type: "boolean" },
      "defer-shared": { type: "boolean" },
      crun: { type: "string" },
      "crun-arg": { type: "string", multiple: true },
    },
    allowPositionals: false,
    strict: true,
  });
  const o: AgentOptions = {};
  if (values.port) o.portName = values.port;
  if (values.device) o.device = values.device;
  if (values.listen) o.listen = values.listen;
  if (values["state-dir"]) o.stateDir = values["state-dir"];
  if (values["shared-dir"]) o.sharedDir = values["shared-dir"];
  if (values["no-mount"]) o.mount = false;
  if (values["defer-shared"]) o.deferShared = true;
  if (values.crun) o.crun = values.crun;
  if (values["crun-arg"]) o.crunArgs = values["crun-arg"];
  return o;
}

async function runCommand(argv: string[]): Promise<void> {
  const p = trackSpawn(Bun.spawn(argv, { stdin: "ignore", stdout: "ignore", stderr: "pipe" }));
  const stderr = await new Response(p.stderr).text();
  if ((await p.exited) !== 0) throw new AgentError(`${argv.join(" ")} failed: ${stderr.trim().slice(0, 1000)}`);
}

const realSystem = (sharedDir: string): GuestSystem => ({
  run: runCommand,
  cloneInit: (req) => cloneInit(req, sharedMount(sharedDir)),
  sync: async () => syncFilesystems(),
  async powerOff() {
    try {
      powerOff();
    } catch (e) {
      log.warn(`reboot(POWER_OFF) failed (${e instanceof Error ? e.message : String(e)}); trying poweroff -f`);
      trackSpawn(Bun.spawn(["poweroff", "-f"], { stdio: ["ignore", "ignore", "ignore"] }));
    }
  },
});

/**
 * The guest agent (`husk agent`): make sure the guest's mounts exist, become
 * child subreaper, find the agent port by name and serve the protocol on it
 * for as long as the VM lives (host reconnects start new sessions; the
 * containers stay). Accepts argv (from the CLI) or options.
 */
export async function runAgent(input: string[] | AgentOptions = []): Promise<never> {
  const o = Array.isArray(input) ? parseAgentArgs(input) : input;
  const stateDir = o.stateDir ?? "/run/husk";
  const sharedDir = o.sharedDir ?? join(stateDir, "shared");
  log.info(`husk agent ${VERSION} starting (pid ${getPid()})`);
  if (o.mount ?? !o.listen) await ensureGuestMounts(guestMounts(sharedDir, { deferShared: o.deferShared }));
  if (getPid() !== 1) {
    try {
      setChildSubreaper();
    } catch (e) {
      log.warn(`cannot become child subreaper: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const reaper = new Reaper();
  const service = new AgentService({
    runtime: new CrunRuntime({ root: join(stateDir, "crun"), binary: o.crun, globalArgs: o.crunArgs }),
    system: realSystem(sharedDir),
    stateDir,
    reaper,
  });
  new OrphanSweeper((pid) => reaper.has(pid)).start();
  const channel = new Channel({
    name: "agent",
    role: "responder",
    local: { methods: METHODS, events: EVENTS, handler: service.handler },
  });
  service.setChannel(channel);
  process.on("SIGTERM", () => process.exit(143));

  if (o.listen) {
    rmSync(o.listen, { force: true });
    const server = net.createServer((sock) => channel.attach(socketTransport(sock, `unix:${o.listen}`)));
    await new Promise<void>((resolve) => server.listen(o.listen, resolve));
    log.info(`serving on ${o.listen}`);
    return await new Promise<never>(() => {});
  }

  const device = o.device ?? (await waitForPort(o.portName ?? "agent.channel.0", o.portTimeoutMs ?? 30_000));
  log.info(`serving on ${device}`);
  const sessions = new PortSessions(await openPortDevice(device), device);
  for (;;) {
    const t = await sessions.next();
    log.debug("host connected");
    channel.attach(t);
  }
}

async function waitForPort(name: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dev = findVirtioPort(name);
    if (dev) return dev;
    if (Date.now() > deadline) throw new AgentError(`no virtio-serial port named ${name} under /sys/class/virtio-ports`);
    await Bun.sleep(50);
  }
}
