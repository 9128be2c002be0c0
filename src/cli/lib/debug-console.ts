import { existsSync } from "node:fs";
import { isatty } from "node:tty";
import { connectAgent, type AgentClient } from "../../agent/client.ts";
import { GUEST_CONSOLE_ID } from "../../agent/protocol.ts";
import { sandboxOfContainer, statusSandbox } from "../../core/api.ts";
import type { RuntimeContext } from "../../core/ports.ts";
import { asHuskError, InvalidStateError, isHuskError, NotFoundError, UnsupportedError } from "../../host/errors.ts";
import { getWinsize } from "../../host/ffi/pty.ts";
import { validateId } from "../../host/ids.ts";
import { logger } from "../../host/log.ts";
import { settledWithin } from "../../host/time.ts";
import { setupHostIo } from "../../shim/host-io.ts";
import { relayUntilExit } from "../../shim/process-relay.ts";
import { installSignalHandlers } from "../../shim/signals.ts";
import { socketPath } from "../../host/sockets.ts";
import { MONITOR_SOCKET, sandboxDir } from "../../host/layout.ts";

/**
 * `husk debug-console ID`, host side: find the sandbox (by its id or one of
 * its containers'), make sure its VM is up, and stand for the guest shell
 * the way a shim stands for a container process: the caller's terminal in
 * raw mode (or plain pipes when stdin is not a terminal), stdio relayed over
 * the monitor's agent connection, SIGWINCH as a resize, other signals
 * forwarded, the shell's exit status returned.
 */

const log = logger("debug-console");

/** The sandbox an id names: a sandbox id, or the id of a container in one. */
export function sandboxOf(ctx: RuntimeContext, id: string): string {
  validateId(id, "sandbox or container id");
  if (existsSync(sandboxDir(ctx.root, id))) return id;
  try {
    return sandboxOfContainer(ctx.root, id);
  } catch (e) {
    if (e instanceof NotFoundError) throw new NotFoundError(`no sandbox or container ${id}`, { details: { id } });
    throw e;
  }
}

/** The sandbox's VM must be up and not paused. Returns the sandbox directory. */
export async function runningSandbox(ctx: RuntimeContext, id: string): Promise<{ sid: string; dir: string }> {
  const sid = sandboxOf(ctx, id);
  const st = await statusSandbox(ctx, sid);
  if (st.state === "stopped" || st.state === "paused") {
    throw new InvalidStateError(`sandbox ${sid} is ${st.state}: its VM must be running for a debug console`, {
      details: { id: sid, state: st.state },
    });
  }
  return { sid, dir: sandboxDir(ctx.root, sid) };
}

export async function runDebugConsole(sid: string, dir: string): Promise<number> {
  let agent: AgentClient;
  try {
    agent = await connectAgent(socketPath(dir, MONITOR_SOCKET), { name: `debug-console ${sid}` });
  } catch (e) {
    throw asHuskError(e, "E_MONITOR", `cannot reach the monitor of sandbox ${sid}`);
  }
  const terminal = isatty(0);
  const io = await setupHostIo(terminal, undefined);
  const execId = `console-${process.pid}-${Date.now().toString(36)}`;
  const ref = { containerId: GUEST_CONSOLE_ID, execId };
  let streams: ReturnType<typeof agent.openStdio>["streams"];
  try {
    const opened = agent.openStdio({
      terminal,
      stdin: true,
      stdout: true,
      stderr: !terminal,
      ...(io.size ? { rows: io.size.rows, cols: io.size.cols } : {}),
    });
    streams = opened.streams;
    const env = process.env.TERM ? [`TERM=${process.env.TERM}`] : [];
    const { pid } = await agent.call("debugConsole", { execId, stdio: opened.stdio, env });
    log.debug(`sandbox ${sid}: debug console ${execId}, guest pid ${pid}`);
  } catch (e) {
    io.restore();
    await agent.close();
    if (isHuskError(e) && e.code === "E_UNSUPPORTED" && /unknown method/.test(e.message)) {
      // The guest runs the agent of the image it booted, which may predate the debug console.
      throw new UnsupportedError(
        `the guest agent of sandbox ${sid} has no debug console: its image was made by an older husk (see \`husk check\`); rebuild or import an image made by this husk and start the sandbox again`,
        { cause: e },
      );
    }
    throw e;
  }

  const uninstall = installSignalHandlers({
    forward(signal) {
      agent.call("signalProcess", { ...ref, signal }).catch((e) => log.debug(`cannot forward signal ${signal}`, e));
    },
    resize() {
      const size = io.sizeFd !== undefined ? getWinsize(io.sizeFd) : undefined;
      if (size) agent.call("resizeTty", { ...ref, ...size }).catch((e) => log.debug("resize failed", e));
    },
  });
  const status = await relayUntilExit(agent, ref, streams, io, "the debug console");
  uninstall();
  io.restore();
  await settledWithin(agent.close(), 1000);
  return status;
}
