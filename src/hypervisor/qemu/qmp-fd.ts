import * as v from "valibot";
import { setNonBlocking } from "../../host/ffi/process.ts";
import { closeSocket, connectUnixFd, recvBytes, sendFdOn, sendText } from "../../host/ffi/scm.ts";
import { HypervisorError } from "../../host/errors.ts";
import { MAX_QMP_LINE } from "./qmp.ts";

/**
 * A second QMP connection, on a raw socket fd, for the one thing node:net
 * cannot do: hand QEMU a file descriptor (`getfd`, SCM_RIGHTS). QEMU keeps
 * fds per monitor, so the command that uses the fd (`migrate fd:NAME`) goes
 * over this connection too. Short-lived: connect, a few commands, close.
 */

const ReplySchema = v.union([
  v.object({ return: v.unknown() }),
  v.object({ error: v.object({ class: v.pipe(v.string(), v.maxLength(256)), desc: v.pipe(v.string(), v.maxLength(65536)) }) }),
]);

export class QmpFdChannel {
  private buffer = "";

  private constructor(private readonly fd: number) {}

  static async connect(path: string, timeoutMs = 5000): Promise<QmpFdChannel> {
    const fd = connectUnixFd(path);
    setNonBlocking(fd, true);
    const ch = new QmpFdChannel(fd);
    try {
      const greeting = await ch.readLine(timeoutMs);
      if (!greeting.includes('"QMP"')) throw new HypervisorError(`qmp ${path}: unexpected greeting`);
      await ch.execute("qmp_capabilities", undefined, undefined, timeoutMs);
      return ch;
    } catch (err) {
      ch.close();
      throw err;
    }
  }

  /** Run one command (with `fd` attached, for getfd); resolves with its return value. */
  async execute(command: string, args?: Record<string, unknown>, fd?: number, timeoutMs = 5000): Promise<unknown> {
    const line = `${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) })}\n`;
    if (fd !== undefined) sendFdOn(this.fd, fd, line);
    else sendText(this.fd, line);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = await this.readLine(Math.max(1, deadline - Date.now()));
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new HypervisorError(`qmp ${command}: malformed reply`);
      }
      if (typeof json === "object" && json !== null && "event" in json) continue;
      const reply = v.safeParse(ReplySchema, json);
      if (!reply.success) throw new HypervisorError(`qmp ${command}: unexpected reply`);
      if ("error" in reply.output)
        throw new HypervisorError(`qmp ${command} failed: ${reply.output.error.class}: ${reply.output.error.desc}`);
      return reply.output.return;
    }
  }

  private async readLine(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nl = this.buffer.indexOf("\n");
      if (nl >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        return line;
      }
      if (this.buffer.length > MAX_QMP_LINE) throw new HypervisorError("qmp: reply line too long");
      const got = recvBytes(this.fd);
      if (got === null) {
        if (Date.now() > deadline) throw new HypervisorError(`qmp: no reply within ${timeoutMs} ms`);
        await Bun.sleep(5);
        continue;
      }
      if (got.length === 0) throw new HypervisorError("qmp: connection closed");
      this.buffer += new TextDecoder().decode(got);
    }
  }

  close(): void {
    closeSocket(this.fd);
  }
}
