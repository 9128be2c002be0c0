import { appendFileSync, existsSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { EVENTS, METHODS } from "../../../src/agent/protocol.ts";
import { socketTransport } from "../../../src/agent/transport/unix.ts";
import { Channel } from "../../../src/agent/wire/channel.ts";
import { HypervisorError } from "../../../src/host/errors.ts";
import { QEMU_PID_FILE } from "../../../src/host/layout.ts";
import { writePidFile } from "../../../src/hypervisor/qemu/pidfile.ts";
import type {
  AgentEndpoint,
  DeviceSpec,
  Hypervisor,
  HypervisorCapabilities,
  VmExit,
  VmSpec,
  VmStatus,
} from "../../../src/hypervisor/types.ts";

/**
 * A stand-in for QEMU + guest for monitor tests: the "VM" is a real `sleep`
 * process (so pid files, SIGKILL and liveness behave as with QEMU) and the
 * "guest agent" a real protocol responder on spec.agentSocket.
 */

export interface FakeOptions {
  /** Never answer the handshake (boot timeout). */
  noAgent?: boolean;
  /** prepare() fails like a missing kernel. */
  failPrepare?: boolean;
}

export class FakeHypervisor implements Hypervisor {
  readonly name = "fake";
  private spec!: VmSpec;
  private child: ReturnType<typeof Bun.spawn> | undefined;
  private exit: Promise<VmExit> | undefined;
  private paused = false;
  private server: Server | undefined;
  private channels: Channel[] = [];

  constructor(private readonly opts: FakeOptions = {}) {}

  async capabilities(): Promise<HypervisorCapabilities> {
    return { accelerator: "tcg", vsock: false, pause: true, hotplug: false };
  }

  async prepare(spec: VmSpec): Promise<void> {
    if (this.opts.failPrepare) throw new HypervisorError(`kernel ${spec.kernel} not found or not readable (hypervisor.kernel)`);
    this.spec = spec;
  }

  async start(): Promise<{ pid: number }> {
    const child = Bun.spawn(["sleep", "1000"], { stdio: ["ignore", "ignore", "ignore"] });
    this.child = child;
    writePidFile(join(this.spec.dir, QEMU_PID_FILE), child.pid, this.spec.qmpSocket);
    this.console("fake kernel booting", "fake init started");
    this.exit = child.exited.then(() => {
      this.server?.close();
      for (const c of this.channels) void c.close();
      return {
        code: child.signalCode ? null : child.exitCode,
        signal: child.signalCode ? String(child.signalCode) : null,
        consoleTail: "fake init started",
      };
    });
    if (!this.opts.noAgent) await this.serveAgent();
    return { pid: child.pid };
  }

  private console(...lines: string[]): void {
    appendFileSync(this.spec.consoleLog, lines.map((l) => `${l}\n`).join(""));
  }

  private serveAgent(): Promise<void> {
    rmSync(this.spec.agentSocket, { force: true });
    const server = createServer((sock) => {
      const channel = new Channel({
        name: "fake-guest",
        role: "responder",
        local: {
          methods: METHODS,
          events: EVENTS,
          handler: async (method) => {
            if (method === "version") return { agentVersion: "fake", commit: "none", protocolVersion: 1 };
            if (method === "shutdown") {
              setTimeout(() => this.child?.kill("SIGTERM"), 10); // the guest powers off
              return {};
            }
            throw new HypervisorError(`fake guest: ${method} not implemented`);
          },
        },
      });
      this.channels.push(channel);
      channel.attach(socketTransport(sock, "fake-guest"));
    });
    this.server = server;
    return new Promise((r) => server.listen(this.spec.agentSocket, () => r()));
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null && !this.child.signalCode) this.child.kill("SIGKILL");
    await this.exit;
  }

  wait(): Promise<VmExit> {
    return this.exit ?? Promise.reject(new HypervisorError("not started"));
  }

  async pause(): Promise<void> {
    this.paused = true;
  }

  async resume(): Promise<void> {
    this.paused = false;
  }

  async status(): Promise<VmStatus> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode) return "stopped";
    return this.paused ? "paused" : "running";
  }

  async addDevice(_d: DeviceSpec): Promise<void> {
    throw new HypervisorError("fake: no hotplug");
  }

  agentEndpoint(): AgentEndpoint {
    return { kind: "unix", path: this.spec.agentSocket };
  }

  async cleanup(): Promise<void> {
    await this.stop().catch(() => {});
    for (const f of [this.spec.agentSocket, join(this.spec.dir, QEMU_PID_FILE)]) if (existsSync(f)) rmSync(f, { force: true });
  }
}
