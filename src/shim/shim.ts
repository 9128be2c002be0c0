import { connectAgent, type AgentClient } from "../agent/client.ts";
import type { ProcessStreams } from "../agent/types.ts";
import { asHuskError, type HuskError, ProtocolError } from "../host/errors.ts";
import { getWinsize } from "../host/ffi/pty.ts";
import { logger } from "../host/log.ts";
import { MONITOR_SOCKET } from "../host/layout.ts";
import { socketPath } from "../host/sockets.ts";
import { parseOr } from "../host/valid.ts";
import { settledWithin } from "../host/time.ts";
import { writeExitFile } from "./exit.ts";
import { connectHandshake, type LineConn } from "./handshake.ts";
import { setupHostIo, type HostIo } from "./host-io.ts";
import { ShimRequestSchema, type ShimReport, type ShimRequest } from "./protocol.ts";
import { relayUntilExit } from "./process-relay.ts";
import { installSignalHandlers } from "./signals.ts";

/**
 * `husk shim`: one per container process. Gets its request from the
 * launching CLI, creates the guest process over its own monitor connection
 * (stdio streams belong to the connection that opened them), reports, then
 * stands for the process on the host until it exits: relays stdio, forwards
 * signals, records the exit and exits with the process's status.
 */

const log = logger("shim");

export async function runShim(handshakePath: string): Promise<never> {
  const conn = await connectHandshake(handshakePath);
  let req: ShimRequest;
  try {
    req = parseOr(ShimRequestSchema, await conn.receive(), ({ at, message }) => new ProtocolError(`bad shim request at ${at}: ${message}`));
  } catch (e) {
    return reportFailure(conn, e, () => {});
  }

  let io: HostIo | undefined;
  let agent: AgentClient | undefined;
  let streams: ProcessStreams;
  let guestPid: number;
  const execId = req.kind === "exec" ? req.execId : undefined;
  const ref = { containerId: req.containerId, ...(execId ? { execId } : {}) };
  try {
    const consoleSize = req.kind === "init" ? req.spec.process?.consoleSize : req.process.consoleSize;
    const initial = consoleSize ? { rows: consoleSize.height, cols: consoleSize.width } : undefined;
    io = await setupHostIo(req.io.terminal, req.io.consoleSocket, initial);
    agent = await connectAgent(socketPath(req.sandboxDir, MONITOR_SOCKET), {
      name: `shim ${req.containerId}${execId ? `/${execId}` : ""}`,
    });
    const terminal = req.io.terminal;
    const opened = agent.openStdio({
      terminal,
      stdin: true,
      stdout: true,
      stderr: !terminal,
      ...(io.size ? { rows: io.size.rows, cols: io.size.cols } : {}),
    });
    streams = opened.streams;
    const res =
      req.kind === "init"
        ? await agent.call("createContainer", { containerId: req.containerId, spec: req.spec, stdio: opened.stdio })
        : await agent.call("exec", { containerId: req.containerId, execId: req.execId, process: req.process, stdio: opened.stdio });
    guestPid = res.pid;
  } catch (e) {
    const hostIo = io;
    const client = agent;
    return reportFailure(conn, e, () => {
      hostIo?.restore();
      void client?.close();
    });
  }

  const a = agent;
  const hostIo = io;
  const uninstall = installSignalHandlers({
    forward(signal) {
      log.debug(`forwarding signal ${signal} to ${req.containerId}`);
      a.call("signalProcess", { ...ref, signal }).catch((e) => log.warn(`cannot forward signal ${signal}`, e));
    },
    resize() {
      const size = hostIo.sizeFd !== undefined ? getWinsize(hostIo.sizeFd) : undefined;
      if (size) a.call("resizeTty", { ...ref, ...size }).catch((e) => log.debug("resize failed", e));
    },
  });

  conn.send({ ok: true, pid: process.pid, guestPid } satisfies ShimReport);
  conn.close();
  log.debug(`${req.containerId}: guest pid ${guestPid}, shim pid ${process.pid}`);

  const status = await relayUntilExit(a, ref, streams, hostIo, req.containerId);
  uninstall();
  hostIo.restore();
  if (req.kind === "init") {
    try {
      writeExitFile(req.sandboxDir, req.containerId, status);
    } catch (e) {
      log.warn("cannot record the exit status", e);
    }
  }
  await settledWithin(a.close(), 1000);
  log.debug(`${req.containerId}${execId ? `/${execId}` : ""} exited with ${status}`);
  process.exit(status);
}

async function reportFailure(conn: LineConn, e: unknown, cleanup: () => void): Promise<never> {
  const err: HuskError = asHuskError(e, "E_SHIM", "shim");
  log.debug("launch failed", err);
  try {
    conn.send({
      ok: false,
      error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) },
    } satisfies ShimReport);
    conn.close();
  } catch {
    // The launcher is gone; it learns from our exit status.
  }
  cleanup();
  await Bun.sleep(50); // let the report flush before exiting
  process.exit(1);
}
