import { existsSync } from "node:fs";
import { isNotChild, reapPid, type WaitResult } from "../../host/ffi/process.ts";
import { logger } from "../../host/log.ts";

const log = logger("agent-reaper");

/**
 * Waits for processes that are our children only by adoption (a container's
 * init, re-parented to the agent as child subreaper once `crun create`
 * exits). Each watched pid is reaped by number with WNOHANG on a short poll,
 * so Bun's own children (crun invocations) are never reaped behind its back.
 */
export class Reaper {
  private watched = new Map<number, { resolve(r: WaitResult): void; notChildSince?: number }>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly intervalMs = 50) {}

  watch(pid: number): Promise<WaitResult> {
    return new Promise((resolve) => {
      this.watched.set(pid, { resolve });
      this.timer ??= setInterval(() => this.poll(), this.intervalMs);
    });
  }

  has(pid: number): boolean {
    return this.watched.has(pid);
  }

  get watching(): number {
    return this.watched.size;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private poll(): void {
    for (const [pid, w] of this.watched) {
      let res: WaitResult | null = null;
      try {
        res = reapPid(pid);
      } catch (e) {
        if (!isNotChild(e)) {
          log.warn(`waitpid(${pid}): ${e instanceof Error ? e.message : String(e)}`);
          continue;
        }
        // Not (yet) our child: the runtime may still be its parent. If it is
        // gone and never became ours, its status is lost: report 255.
        if (!existsSync(`/proc/${pid}`)) {
          w.notChildSince ??= Date.now();
          if (Date.now() - w.notChildSince > 500) {
            log.warn(`pid ${pid} exited without being re-parented to the agent; exit status unknown`);
            res = { pid, exitCode: 255 };
          }
        }
      }
      if (res) {
        this.watched.delete(pid);
        w.resolve(res);
      }
    }
    if (this.watched.size === 0) this.stop();
  }
}
