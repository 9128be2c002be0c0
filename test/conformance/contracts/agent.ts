import { afterEach, describe, expect, test } from "bun:test";
import { PROTOCOL_VERSION, type EventPayload } from "../../../src/agent/protocol.ts";
import type { Agent } from "../../../src/agent/types.ts";
import type { OciSpec } from "../../../src/oci/spec.ts";
import { clause, type Deviations, expectHuskError } from "../../support/conformance/expect.ts";

/**
 * The Agent port's contract (src/agent/types.ts, method table in
 * src/agent/protocol.ts): every method answers with a response of its
 * schema; containers go created → running → exited, exec'd processes run
 * in them, signals kill with 128+n, waitProcess reports the exit (and keeps
 * it until removal), processExit is announced, stdio streams carry bytes,
 * misuse fails with a HuskError, requests off the schema with E_PROTOCOL.
 * Two connections to one guest see the same containers.
 */

export interface AgentSubject {
  agent: Agent;
  /** An OCI spec whose process runs args (its rootfs made where the guest sees it). */
  spec(cid: string, args: string[]): OciSpec;
  /**
   * The program of process (cid, execId) has ended by itself with code. A
   * real guest runs the program, so this does nothing; the mock cannot, so
   * its test control makes the process exit.
   */
  programEnded(cid: string, execId: string | undefined, code: number): void;
  /** Another connection to the same guest. */
  connectAgain(): Promise<Agent>;
}

export interface AgentFactory {
  open(): Promise<AgentSubject>;
  /** Close the subject's connections (the guest stays for the next test). */
  close(subject: AgentSubject): Promise<void>;
  timeoutMs: number;
  deviations?: Deviations;
}

export const AGENT_CLAUSES = {
  notFoundCode: "an unknown container or process is E_NOT_FOUND",
  alreadyExistsCode: "a duplicate container or exec id is E_ALREADY_EXISTS",
  invalidStateCode: "removing a running container without force is E_INVALID_STATE",
} as const;

const user = { uid: 0, gid: 0 };
const proc = (args: string[]) => ({ args, cwd: "/", user, env: ["PATH=/bin"] });
const noStdio = { terminal: false } as const;

export function agentContract(name: string, factory: AgentFactory): void {
  describe(`Agent contract: ${name}`, () => {
    const T = factory.timeoutMs;
    let seq = 0;
    /** Container ids unique across tests and runs against one guest. */
    const cid = (what: string) => `ct-${what}-${++seq}`;
    let subject: AgentSubject | undefined;
    const extra: Agent[] = [];
    const open = async () => (subject = await factory.open());
    /** Running containers a test leaves behind: removed with force after it. */
    let cleanupIds: string[] = [];

    afterEach(async () => {
      if (subject) {
        for (const id of cleanupIds) await subject.agent.call("removeContainer", { containerId: id, force: true }).catch(() => {});
        await factory.close(subject);
      }
      for (const a of extra.splice(0)) await a.close().catch(() => {});
      cleanupIds = [];
      subject = undefined;
    }, T);

    /** Create and start a container running `sleep 600`. */
    async function sleeper(s: AgentSubject, id: string): Promise<number> {
      cleanupIds.push(id);
      const { pid } = await s.agent.call("createContainer", { containerId: id, spec: s.spec(id, ["sleep", "600"]), stdio: noStdio });
      await s.agent.call("startContainer", { containerId: id });
      return pid;
    }

    test(
      "version answers the protocol version; guestDetails describes the guest",
      async () => {
        const { agent } = await open();
        const v = await agent.call("version", {});
        expect(v.protocolVersion).toBe(PROTOCOL_VERSION);
        expect(v.agentVersion.length).toBeGreaterThan(0);
        const d = await agent.call("guestDetails", {});
        expect(d.cpus).toBeGreaterThanOrEqual(1);
        expect(d.memTotalKiB).toBeGreaterThan(0);
        expect(d.memFreeKiB).toBeLessThanOrEqual(d.memTotalKiB);
        expect(d.uptimeSec).toBeGreaterThanOrEqual(0);
      },
      T,
    );

    test(
      "create → start → ps lists the process → SIGKILL → wait reports 137/9 → remove; the id is then unknown",
      async () => {
        const s = await open();
        const id = cid("life");
        const pid = await sleeper(s, id);
        expect(pid).toBeGreaterThan(0);
        const ps = await s.agent.call("listProcesses", { containerId: id });
        expect(ps.processes.map((p) => p.command)).toContain("sleep 600");
        await s.agent.call("signalProcess", { containerId: id, signal: 9 });
        expect(await s.agent.call("waitProcess", { containerId: id })).toEqual({ exitCode: 137, signal: 9 });
        // The exit is kept until removal: a second wait gets it again.
        expect(await s.agent.call("waitProcess", { containerId: id })).toEqual({ exitCode: 137, signal: 9 });
        await s.agent.call("removeContainer", { containerId: id });
        await expectHuskError(s.agent.call("waitProcess", { containerId: id }), undefined, id);
        await expectHuskError(s.agent.call("listProcesses", { containerId: id }), undefined, id);
      },
      T,
    );

    test(
      "a program's own exit code is reported by waitProcess (no signal) and announced as processExit",
      async () => {
        const s = await open();
        const id = cid("exit3");
        cleanupIds.push(id);
        const events: EventPayload<"processExit">[] = [];
        const off = s.agent.on("processExit", (e) => {
          if (e.containerId === id) events.push(e);
        });
        await s.agent.call("createContainer", { containerId: id, spec: s.spec(id, ["sh", "-c", "exit 3"]), stdio: noStdio });
        await s.agent.call("startContainer", { containerId: id });
        s.programEnded(id, undefined, 3);
        expect(await s.agent.call("waitProcess", { containerId: id })).toEqual({ exitCode: 3 });
        for (let i = 0; i < 100 && events.length === 0; i++) await Bun.sleep(50);
        off();
        expect(events).toEqual([{ containerId: id, exitCode: 3 }]);
        // Exited: removal needs no force.
        await s.agent.call("removeContainer", { containerId: id });
      },
      T,
    );

    test(
      "exec runs a second process in a running container; its exit code is its own, the container runs on",
      async () => {
        const s = await open();
        const id = cid("exec");
        await sleeper(s, id);
        const { pid } = await s.agent.call("exec", {
          containerId: id,
          execId: "e1",
          process: proc(["sh", "-c", "exit 5"]),
          stdio: noStdio,
        });
        expect(pid).toBeGreaterThan(0);
        s.programEnded(id, "e1", 5);
        expect(await s.agent.call("waitProcess", { containerId: id, execId: "e1" })).toEqual({ exitCode: 5 });
        const ps = await s.agent.call("listProcesses", { containerId: id });
        expect(ps.processes.map((p) => p.command)).toContain("sleep 600");
      },
      T,
    );

    test(
      "stdio streams: bytes written to an exec'd cat's stdin come back on its stdout",
      async () => {
        const s = await open();
        const id = cid("cat");
        await sleeper(s, id);
        const io = s.agent.openStdio({ terminal: false, stdin: true, stdout: true, stderr: false });
        expect(io.stdio.stdin).toBeDefined();
        expect(io.stdio.stdout).toBeDefined();
        expect(io.stdio.stderr).toBeUndefined();
        await s.agent.call("exec", { containerId: id, execId: "cat", process: proc(["cat"]), stdio: io.stdio });
        const out = new Response(io.streams.stdout).text();
        const w = io.streams.stdin!.getWriter();
        await w.write(new TextEncoder().encode("through the agent"));
        await w.close();
        s.programEnded(id, "cat", 0); // cat ends at stdin's EOF
        expect(await out).toBe("through the agent");
        expect(await s.agent.call("waitProcess", { containerId: id, execId: "cat" })).toEqual({ exitCode: 0 });
      },
      T,
    );

    test(
      "signalProcess to an exec'd process kills only it (SIGTERM → 143); signal 0 probes without killing",
      async () => {
        const s = await open();
        const id = cid("sig");
        await sleeper(s, id);
        await s.agent.call("exec", { containerId: id, execId: "s1", process: proc(["sleep", "601"]), stdio: noStdio });
        await s.agent.call("signalProcess", { containerId: id, execId: "s1", signal: 0 });
        await s.agent.call("signalProcess", { containerId: id, signal: 0 });
        expect((await s.agent.call("listProcesses", { containerId: id })).processes.map((p) => p.command)).toContain("sleep 601");
        await s.agent.call("signalProcess", { containerId: id, execId: "s1", signal: 15 });
        // 128+15; `signal` is optional in the protocol (the real agent's exec'd processes report only the code).
        const exit = await s.agent.call("waitProcess", { containerId: id, execId: "s1" });
        expect(exit.exitCode).toBe(143);
        expect([undefined, 15]).toContain(exit.signal);
        const left = (await s.agent.call("listProcesses", { containerId: id })).processes.map((p) => p.command);
        expect(left).toContain("sleep 600");
        expect(left).not.toContain("sleep 601");
      },
      T,
    );

    test(
      "pauseContainer / resumeContainer: the container survives and still obeys signals",
      async () => {
        const s = await open();
        const id = cid("pause");
        await sleeper(s, id);
        await s.agent.call("pauseContainer", { containerId: id });
        await s.agent.call("resumeContainer", { containerId: id });
        expect((await s.agent.call("listProcesses", { containerId: id })).processes.map((p) => p.command)).toContain("sleep 600");
        await s.agent.call("signalProcess", { containerId: id, signal: 9 });
        expect(await s.agent.call("waitProcess", { containerId: id })).toEqual({ exitCode: 137, signal: 9 });
      },
      T,
    );

    test(
      "stats of a running container count its processes",
      async () => {
        const s = await open();
        const id = cid("stats");
        await sleeper(s, id);
        const st = await s.agent.call("stats", { containerId: id });
        expect(st.pids.current).toBeGreaterThanOrEqual(1);
        expect(st.cpu.usageUsec).toBeGreaterThanOrEqual(0);
        expect(st.memory.usageBytes).toBeGreaterThanOrEqual(0);
      },
      T,
    );

    test(
      "removing a running container needs force; force kills it and frees the id for reuse",
      async () => {
        const s = await open();
        const id = cid("rm");
        await sleeper(s, id);
        await expectHuskError(s.agent.call("removeContainer", { containerId: id }), undefined, id);
        expect((await s.agent.call("listProcesses", { containerId: id })).processes.length).toBeGreaterThan(0);
        await s.agent.call("removeContainer", { containerId: id, force: true });
        await expectHuskError(s.agent.call("listProcesses", { containerId: id }), undefined, id);
        await sleeper(s, id); // the same id again
        expect((await s.agent.call("listProcesses", { containerId: id })).processes.map((p) => p.command)).toContain("sleep 600");
      },
      T,
    );

    test(
      "an unknown container: every container method rejects with a HuskError naming it",
      async () => {
        const { agent } = await open();
        const id = cid("ghost");
        // One at a time: a rejection nobody awaits yet would count as unhandled.
        const calls: (() => Promise<unknown>)[] = [
          () => agent.call("startContainer", { containerId: id }),
          () => agent.call("removeContainer", { containerId: id }),
          () => agent.call("exec", { containerId: id, execId: "x", process: proc(["true"]), stdio: noStdio }),
          () => agent.call("signalProcess", { containerId: id, signal: 15 }),
          () => agent.call("waitProcess", { containerId: id }),
          () => agent.call("listProcesses", { containerId: id }),
          () => agent.call("pauseContainer", { containerId: id }),
          () => agent.call("resumeContainer", { containerId: id }),
          () => agent.call("stats", { containerId: id }),
        ];
        for (const c of calls) await expectHuskError(c(), undefined, id);
      },
      T,
    );

    test(
      "duplicate ids: a second createContainer or exec with a taken id rejects; the first is untouched",
      async () => {
        const s = await open();
        const id = cid("dup");
        await sleeper(s, id);
        await expectHuskError(
          s.agent.call("createContainer", { containerId: id, spec: s.spec(id, ["sleep", "602"]), stdio: noStdio }),
          undefined,
          id,
        );
        await s.agent.call("exec", { containerId: id, execId: "d1", process: proc(["sleep", "603"]), stdio: noStdio });
        await expectHuskError(
          s.agent.call("exec", { containerId: id, execId: "d1", process: proc(["sleep", "604"]), stdio: noStdio }),
          undefined,
          "d1",
        );
        const cmds = (await s.agent.call("listProcesses", { containerId: id })).processes.map((p) => p.command);
        expect(cmds).toContain("sleep 600");
        expect(cmds).toContain("sleep 603");
        expect(cmds).not.toContain("sleep 602");
        expect(cmds).not.toContain("sleep 604");
      },
      T,
    );

    test(
      "a process that does not exit: waitProcess with a timeout rejects with E_TIMEOUT, the process runs on",
      async () => {
        const s = await open();
        const id = cid("wait");
        await sleeper(s, id);
        await expectHuskError(s.agent.call("waitProcess", { containerId: id }, { timeoutMs: 300 }), "E_TIMEOUT");
        expect((await s.agent.call("listProcesses", { containerId: id })).processes.map((p) => p.command)).toContain("sleep 600");
      },
      T,
    );

    test(
      "requests off the method table's schema are refused with E_PROTOCOL before reaching the guest",
      async () => {
        const { agent } = await open();
        await expectHuskError(agent.call("startContainer", { containerId: "../escape" }), "E_PROTOCOL");
        await expectHuskError(agent.call("signalProcess", { containerId: "ok", signal: 65 }), "E_PROTOCOL");
        await expectHuskError(agent.call("listProcesses", { containerId: "ok", extra: 1 } as never), "E_PROTOCOL");
        expect((await agent.call("version", {})).protocolVersion).toBe(PROTOCOL_VERSION); // still usable
      },
      T,
    );

    test(
      "two connections to one guest see the same containers",
      async () => {
        const s = await open();
        const id = cid("shared");
        await sleeper(s, id);
        const other = await s.connectAgain();
        extra.push(other);
        expect((await other.call("listProcesses", { containerId: id })).processes.map((p) => p.command)).toContain("sleep 600");
        await other.call("signalProcess", { containerId: id, signal: 9 });
        expect(await s.agent.call("waitProcess", { containerId: id })).toEqual({ exitCode: 137, signal: 9 });
      },
      T,
    );

    test(
      "after close() calls reject with a HuskError; other connections are unaffected",
      async () => {
        const s = await open();
        const other = await s.connectAgain();
        extra.push(other);
        await other.close();
        await expectHuskError(other.call("version", {}));
        expect((await s.agent.call("version", {})).protocolVersion).toBe(PROTOCOL_VERSION);
      },
      T,
    );

    clause(
      name,
      factory.deviations,
      AGENT_CLAUSES.notFoundCode,
      async () => {
        const s = await open();
        const id = cid("nf");
        await expectHuskError(s.agent.call("startContainer", { containerId: id }), "E_NOT_FOUND");
        await expectHuskError(s.agent.call("waitProcess", { containerId: id }), "E_NOT_FOUND");
        await sleeper(s, id);
        await expectHuskError(s.agent.call("waitProcess", { containerId: id, execId: "nope" }), "E_NOT_FOUND");
      },
      T,
    );

    clause(
      name,
      factory.deviations,
      AGENT_CLAUSES.alreadyExistsCode,
      async () => {
        const s = await open();
        const id = cid("ae");
        await sleeper(s, id);
        await expectHuskError(
          s.agent.call("createContainer", { containerId: id, spec: s.spec(id, ["true"]), stdio: noStdio }),
          "E_ALREADY_EXISTS",
        );
        await s.agent.call("exec", { containerId: id, execId: "a1", process: proc(["sleep", "605"]), stdio: noStdio });
        await expectHuskError(
          s.agent.call("exec", { containerId: id, execId: "a1", process: proc(["true"]), stdio: noStdio }),
          "E_ALREADY_EXISTS",
        );
      },
      T,
    );

    clause(
      name,
      factory.deviations,
      AGENT_CLAUSES.invalidStateCode,
      async () => {
        const s = await open();
        const id = cid("is");
        await sleeper(s, id);
        await expectHuskError(s.agent.call("removeContainer", { containerId: id }), "E_INVALID_STATE");
      },
      T,
    );
  });
}
