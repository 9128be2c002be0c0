import type { Stdio } from "./protocol.ts";
import type { ProcessStreams, StdioRequest } from "./types.ts";
import { keyOf } from "./mock-guest.ts";

/**
 * The mock agent's stdio streams, in memory: a process echoes its stdin to
 * its stdout (like `cat`), and tests inject output with emit.
 */

interface StreamSet {
  stdinSink?: WritableStream<Uint8Array>;
  stdout?: ReadableStreamDefaultController<Uint8Array>;
  stderr?: ReadableStreamDefaultController<Uint8Array>;
}

export class MockStdio {
  private nextStream = 1;
  private streams = new Map<number, StreamSet>();
  /** stream ids attached to each process (key "cid/exec"). */
  private attached = new Map<string, Stdio>();

  open(want: StdioRequest): { stdio: Stdio; streams: ProcessStreams } {
    const stdio: Stdio = { terminal: want.terminal };
    const streams: ProcessStreams = {};
    if (want.rows !== undefined) stdio.rows = want.rows;
    if (want.cols !== undefined) stdio.cols = want.cols;
    const set: StreamSet = {};
    if (want.stdout) {
      stdio.stdout = this.nextStream++;
      streams.stdout = new ReadableStream<Uint8Array>({ start: (c) => void (set.stdout = c) });
      this.streams.set(stdio.stdout, set);
    }
    if (want.stderr && !want.terminal) {
      stdio.stderr = this.nextStream++;
      streams.stderr = new ReadableStream<Uint8Array>({ start: (c) => void (set.stderr = c) });
      this.streams.set(stdio.stderr, set);
    }
    if (want.stdin) {
      stdio.stdin = this.nextStream++;
      // Echo: what the host writes to stdin comes back on stdout.
      streams.stdin = new WritableStream<Uint8Array>({
        write: (chunk) => {
          try {
            set.stdout?.enqueue(chunk);
          } catch {
            // stdout already closed: the process exited; drop like a closed pipe.
          }
        },
      });
      this.streams.set(stdio.stdin, set);
    }
    return { stdio, streams };
  }

  attach(cid: string, execId: string | undefined, stdio: Stdio): void {
    this.attached.set(`${cid}/${keyOf(execId)}`, stdio);
  }

  private streamSet(cid: string, execId?: string): StreamSet | undefined {
    const stdio = this.attached.get(`${cid}/${keyOf(execId)}`);
    const id = stdio?.stdout ?? stdio?.stderr ?? stdio?.stdin;
    return id === undefined ? undefined : this.streams.get(id);
  }

  emit(cid: string, execId: string | undefined, which: "stdout" | "stderr", data: Uint8Array): void {
    const set = this.streamSet(cid, execId);
    try {
      (which === "stdout" ? set?.stdout : (set?.stderr ?? set?.stdout))?.enqueue(data);
    } catch {
      // closed: the process has exited
    }
  }

  close(cid: string, execId?: string): void {
    const set = this.streamSet(cid, execId);
    for (const c of [set?.stdout, set?.stderr]) {
      try {
        c?.close();
      } catch {
        // already closed
      }
    }
  }
}
