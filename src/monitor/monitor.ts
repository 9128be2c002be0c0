import { chmodSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { createAgentRouter, type AgentRouter } from "../agent/proxy.ts";
import { HuskError, asHuskError } from "../host/errors.ts";
import { createHypervisor } from "../hypervisor/registry.ts";
import type { Hypervisor, VmExit, VmSpec, VmStatus } from "../hypervisor/types.ts";
import { logger } from "../host/log.ts";
import { bootClone } from "./clone.ts";
import { spawnTemplateBuild } from "../factory/spawn.ts";
import { discardTemplate } from "../factory/store.ts";
import { bootVm, type BootResult } from "./boot.ts";
import { huskCommand } from "../host/self.ts";
import { MONITOR_PID_FILE, MONITOR_SOCKET } from "../host/layout.ts";
import { readVmConfig, writeVmState, type VmConfig, type VmState } from "./files.ts";
import { ensureSocketPath, socketPath } from "../host/sockets.ts";
import { settledWithin } from "../host/time.ts";
import { connectGuest, type GuestLink } from "./guest.ts";
import { MONITOR_METHODS } from "./methods.ts";
import { writePidFile } from "../hypervisor/qemu/pidfile.ts";

/**
 * The sandbox monitor: one long-lived process per sandbox. Boots the VM
 * through the Hypervisor driver, holds the single agent channel, serves
 * <dir>/monitor.sock (agent calls routed to the guest + "monitor.*" control
 * methods), records the VM's state in <dir>/vm-state.json, and ends when the
 * VM does (asked to stop, or QEMU died).
 */

const log = logger("monitor");

export interface MonitorOptions {
  /** Sandbox directory (<root>/sandboxes/<sid>); holds vm.json. */
  dir: string;
  /** Driver to use; default QemuHypervisor. Tests inject a fake. */
  hypervisor?: (config: VmConfig) => Hypervisor;
}

export class SandboxMonitor {
  private config!: VmConfig;
  private spec!: VmSpec;
  private hv!: Hypervisor;
  private guest: GuestLink | undefined;
  private router: AgentRouter | undefined;
  private server: Server | undefined;
  private qemuPid: number | undefined;
  private boot: VmState["boot"];
  /** Once serving: start a background template build when none matched. */
  private afterBoot: (() => void) | undefined;
  private stopping: Promise<void> | undefined;
  private finished = false;
  private resolveDone!: (code: number) => void;
  /** Resolves with the exit code once the monitor has finished. */
  readonly done: Promise<number> = new Promise((r) => (this.resolveDone = r));

  constructor(private readonly options: MonitorOptions) {}

  /** Boot and serve. Resolves once serving (or rejects with the boot error, already recorded in vm-state.json). */
  async start(): Promise<void> {
    const { dir } = this.options;
    writePidFile(join(dir, MONITOR_PID_FILE), process.pid, socketPath(dir, MONITOR_SOCKET));
    try {
      this.config = readVmConfig(dir);
      this.spec = this.config.spec;
      this.record("booting");
      const { agent, qemuPid, bootMs } = await this.bootSandbox();
      this.guest = agent;
      this.qemuPid = qemuPid;
      this.router = createAgentRouter({
        guest: agent.channel,
        monitorMethods: MONITOR_METHODS,
        onMonitorCall: (method, request) => this.control(method, request),
      });
      await this.listen();
      this.record("running");
      log.info(`sandbox ${this.spec.sandboxId} running (boot ${bootMs} ms, qemu ${qemuPid}, monitor ${process.pid})`);
      this.afterBoot?.();
    } catch (err) {
      const e = asHuskError(err, "E_MONITOR", "monitor start failed");
      log.error(e.message);
      this.recordRaw({ state: "failed", error: { code: e.code, message: e.message } });
      await this.teardown();
      this.finish(1);
      throw e;
    }
    void this.hv.wait().then((exit) => this.onVmExit(exit));
  }

  private async newHypervisor(): Promise<Hypervisor> {
    return this.options.hypervisor?.(this.config) ?? createHypervisor("qemu", { qemu: { stopTimeoutMs: this.config.stopTimeoutMs } });
  }

  /**
   * With templates on, a clone of the matching template (src/factory/);
   * otherwise, or when the clone fails, a cold boot — and when no template
   * matched, one is made in the background once this sandbox runs.
   */
  private async bootSandbox(): Promise<BootResult<GuestLink>> {
    const factory = this.config.factory;
    const t0 = Date.now();
    let warning: string | undefined;
    let key: string | undefined;
    if (factory) {
      const hv = await this.newHypervisor();
      const outcome = await bootClone(this.spec, factory.dir, hv).catch((e: unknown) => ({
        kind: "failed" as const,
        key: undefined,
        warning: `templates: ${e instanceof Error ? e.message : String(e)}; booted cold`,
      }));
      if (outcome.kind === "cloned") {
        this.hv = hv;
        this.boot = { mode: "clone", ms: Date.now() - t0, template: outcome.key };
        return outcome.result;
      }
      key = outcome.kind === "unsupported" ? undefined : outcome.key;
      if (outcome.kind === "failed") {
        warning = outcome.warning;
        log.warn(`sandbox ${this.spec.sandboxId}: ${warning}`);
        // Never tried twice: the broken template goes, and a new one is made.
        if (key) discardTemplate(factory.dir, key);
      }
      if (key) {
        const wanted = key;
        this.afterBoot = () => void spawnTemplateBuild(huskCommand(), factory.dir, this.spec, wanted);
      }
    }
    this.hv = await this.newHypervisor();
    const result = await bootVm(this.hv, this.spec, connectGuest);
    this.boot = { mode: "cold", ms: Date.now() - t0, ...(key ? { template: key } : {}), ...(warning ? { warning } : {}) };
    return result;
  }

  private async listen(): Promise<void> {
    const path = ensureSocketPath(this.options.dir, MONITOR_SOCKET);
    rmSync(path, { force: true }); // a stale socket from a killed monitor
    const server = createServer((sock) => {
      sock.on("error", (e) => log.debug(`client socket: ${e.message}`));
      this.router!.addClient(sock);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
    chmodSync(path, 0o600);
    server.on("error", (e) => log.error(`monitor socket: ${e.message}`));
  }

  /** "monitor.*" methods (requests already validated by the router). */
  private async control(method: string, request: unknown): Promise<unknown> {
    switch (method) {
      case "monitor.ping":
        return { sandboxId: this.spec.sandboxId, monitorPid: process.pid, qemuPid: this.qemuPid! };
      case "monitor.status":
        return { status: await this.status() };
      case "monitor.pause":
        await this.hv.pause();
        this.record("paused");
        return {};
      case "monitor.resume":
        await this.hv.resume();
        this.record("running");
        return {};
      case "monitor.stop":
        await this.stop((request as { timeoutMs?: number }).timeoutMs);
        // Exit once the reply had a moment to leave; the caller waits for our exit anyway.
        setTimeout(() => void this.shutdown(0), 20);
        return {};
      default:
        throw new HuskError("E_UNSUPPORTED", `unknown monitor method ${method}`);
    }
  }

  async status(): Promise<VmStatus> {
    if (this.stopping || this.finished) return "stopped";
    return this.hv.status();
  }

  /**
   * Agent shutdown (the guest syncs and powers off; -no-reboot ends QEMU),
   * then the driver's powerdown/quit/SIGKILL for what remains of the timeout.
   */
  stop(timeoutMs = this.config.stopTimeoutMs): Promise<void> {
    return (this.stopping ??= (async () => {
      const deadline = Date.now() + timeoutMs;
      log.info(`stopping sandbox ${this.spec.sandboxId}`);
      const exited = this.hv.wait().then(() => true);
      if (this.guest?.channel.isOpen) {
        const shutdown = this.guest.channel.call("shutdown", {}, { timeoutMs: Math.max(1, Math.floor(timeoutMs / 2)) }).then(
          () => "answered" as const,
          (e: unknown) => {
            log.debug(`agent shutdown: ${e instanceof Error ? e.message : String(e)}`);
            return "failed" as const;
          },
        );
        const first = await Promise.race([shutdown, exited]);
        // An agent that answered has synced every filesystem (9p writes are
        // on the host): QMP quit below loses nothing, and is far quicker
        // than the guest's own reboot under TCG. One that did not answer
        // gets a moment to go down by itself.
        if (first === "failed") await settledWithin(exited, 250);
      }
      try {
        await this.hv.stop({ timeoutMs: Math.max(1000, deadline - Date.now()) });
      } catch (err) {
        // The driver's graceful path failed: cleanup kills whatever is left.
        log.warn(`stop: ${err instanceof Error ? err.message : String(err)}; killing qemu`);
        await this.hv.cleanup();
      }
      const exit = await this.hv.wait();
      this.recordRaw({ state: "stopped", reason: "stop", exit: { code: exit.code, signal: exit.signal } });
    })());
  }

  /** QEMU ended. If nobody asked, record it (the core reads vm-state.json) and end the monitor. */
  private async onVmExit(exit: VmExit): Promise<void> {
    if (this.stopping) return;
    log.warn(
      `sandbox ${this.spec.sandboxId}: qemu exited unexpectedly (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`})` +
        (exit.consoleTail ? `\n--- guest console (last lines) ---\n${exit.consoleTail}` : ""),
    );
    this.recordRaw({ state: "stopped", reason: "exited", exit: { code: exit.code, signal: exit.signal } });
    await this.shutdown(0);
  }

  /** SIGTERM/SIGINT: stop the VM as if asked, then exit. */
  async terminate(): Promise<void> {
    if (!this.hv || this.finished) return;
    await this.stop().catch((e) => log.error(`stop on signal: ${String(e)}`));
    await this.shutdown(0);
  }

  private async shutdown(code: number): Promise<void> {
    if (this.finished) return;
    await this.teardown();
    this.finish(code);
  }

  /** Close everything this process holds; leaves vm-state.json and vm.json for the CLI. */
  private async teardown(): Promise<void> {
    const { dir } = this.options;
    // Stop accepting, then drop the clients (server.close alone waits for every client to hang up).
    this.server?.close();
    await this.router?.close().catch(() => {});
    await this.guest?.stop().catch(() => {});
    await this.hv?.cleanup().catch((e) => log.warn(`cleanup: ${String(e)}`));
    rmSync(socketPath(dir, MONITOR_SOCKET), { force: true });
    rmSync(join(dir, MONITOR_PID_FILE), { force: true });
  }

  private finish(code: number): void {
    this.finished = true;
    this.resolveDone(code);
  }

  private record(state: VmState["state"]): void {
    this.recordRaw({ state });
  }

  private recordRaw(s: Pick<VmState, "state"> & Partial<Pick<VmState, "error" | "exit" | "reason">>): void {
    try {
      writeVmState(this.options.dir, {
        sandboxId: this.spec?.sandboxId ?? "",
        monitorPid: process.pid,
        ...(this.qemuPid ? { qemuPid: this.qemuPid } : {}),
        ...(this.boot ? { boot: this.boot } : {}),
        ...s,
      });
    } catch (e) {
      log.error(`cannot write vm state: ${String(e)}`);
    }
  }
}
