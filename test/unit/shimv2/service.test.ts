import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import * as T from "../../../src/shimv2/task-messages.ts";
import { Status } from "../../../src/shimv2/gen/containerd/types/task_pb.ts";
import type { EventSink } from "../../../src/shimv2/events.ts";
import { TASK_SERVICE, TaskService } from "../../../src/shimv2/service.ts";
import { Code, serveTtrpc, type TtrpcCallError, TtrpcClient, type TtrpcServer } from "../../../src/shimv2/ttrpc.ts";
import { statusContainer } from "../../../src/core/api.ts";
import { makeEnv, minimalSpec, type Env } from "../core/helpers.ts";

/**
 * The task service over the mock drivers (mock hypervisor and agent, direct
 * launcher), reached through a real ttrpc server: the calls containerd
 * makes, the gRPC codes its errdefs expect, and the events in order. A
 * process's exit is played by the test (exitedOf hands out deferreds).
 */

let env: Env;
let server: TtrpcServer;
let client: TtrpcClient;
let events: string[];
let exits: ((status: number) => void)[];
let shutdowns: number;

async function call<I extends DescMessage, O extends DescMessage>(
  method: string,
  input: I,
  output: O,
  req: MessageInitShape<I>,
): Promise<MessageShape<O>> {
  return fromBinary(output, await client.call(TASK_SERVICE, method, toBinary(input, create(input, req))));
}
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => -1,
    (e: TtrpcCallError) => e.grpcCode,
  );

beforeEach(async () => {
  env = makeEnv();
  events = [];
  exits = [];
  shutdowns = 0;
  const sink: EventSink = {
    async publish(schema, event) {
      const e = event as { containerId?: string; execId?: string; id?: string; exitStatus?: number };
      events.push(
        `${schema.typeName.replace("containerd.events.", "")} ${e.containerId}${e.execId ? `/${e.execId}` : ""}${e.exitStatus !== undefined && schema.typeName.endsWith("Exit") ? ` ${e.exitStatus}` : ""}`,
      );
    },
  };
  const service = new TaskService({
    ctx: env.ctx,
    namespace: "test",
    events: sink,
    exitedOf: () => new Promise<number>((resolve) => exits.push(resolve)),
    onShutdown: () => shutdowns++,
  });
  server = serveTtrpc(join(env.dir, "shim.sock"), service.handlers());
  client = await TtrpcClient.connect(server.path);
});

afterEach(async () => {
  client.close();
  server.close();
  await env.cleanup();
});

describe("shim v2 task service (mock drivers)", () => {
  test("create → start → exec → exit → wait → delete, with events in order and containerd's error codes", async () => {
    const bundle = env.bundle("b1", minimalSpec(["/bin/sh"]));
    const created = await call("Create", T.CreateTaskRequestSchema, T.CreateTaskResponseSchema, { id: "c1", bundle });
    expect(created.pid).toBeGreaterThan(0);
    expect((await call("State", T.StateRequestSchema, T.StateResponseSchema, { id: "c1" })).status).toBe(Status.CREATED);
    expect(await codeOf(call("Create", T.CreateTaskRequestSchema, T.CreateTaskResponseSchema, { id: "c1", bundle }))).toBe(
      Code.AlreadyExists,
    );

    await call("Start", T.StartRequestSchema, T.StartResponseSchema, { id: "c1" });
    expect((await call("State", T.StateRequestSchema, T.StateResponseSchema, { id: "c1" })).status).toBe(Status.RUNNING);
    expect(await codeOf(call("Start", T.StartRequestSchema, T.StartResponseSchema, { id: "c1" }))).toBe(Code.FailedPrecondition);

    // Exec: the OCI process travels as JSON in an Any.
    const spec = {
      typeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Process",
      value: new TextEncoder().encode(JSON.stringify({ args: ["true"], cwd: "/", user: { uid: 0, gid: 0 } })),
    };
    await call("Exec", T.ExecProcessRequestSchema, EmptySchema, { id: "c1", execId: "e1", spec });
    expect(await codeOf(call("Exec", T.ExecProcessRequestSchema, EmptySchema, { id: "c1", execId: "e1", spec }))).toBe(Code.AlreadyExists);
    const bad = { typeUrl: spec.typeUrl, value: new TextEncoder().encode("{not json") };
    expect(await codeOf(call("Exec", T.ExecProcessRequestSchema, EmptySchema, { id: "c1", execId: "e2", spec: bad }))).toBe(
      Code.InvalidArgument,
    );
    const wrong = { typeUrl: spec.typeUrl, value: new TextEncoder().encode(JSON.stringify({ args: "not-a-list", cwd: "/" })) };
    expect(await codeOf(call("Exec", T.ExecProcessRequestSchema, EmptySchema, { id: "c1", execId: "e3", spec: wrong }))).toBe(
      Code.InvalidArgument,
    );
    expect(await codeOf(call("Kill", T.KillRequestSchema, EmptySchema, { id: "c1", execId: "e1", signal: 15 }))).toBe(
      Code.FailedPrecondition,
    ); // not started
    await call("Start", T.StartRequestSchema, T.StartResponseSchema, { id: "c1", execId: "e1" });
    exits[1]!(0);
    expect((await call("Wait", T.WaitRequestSchema, T.WaitResponseSchema, { id: "c1", execId: "e1" })).exitStatus).toBe(0);
    await call("Delete", T.DeleteRequestSchema, T.DeleteResponseSchema, { id: "c1", execId: "e1" });

    // A running task cannot be deleted; Checkpoint is not supported; unknown ids are NotFound.
    expect(await codeOf(call("Delete", T.DeleteRequestSchema, T.DeleteResponseSchema, { id: "c1" }))).toBe(Code.FailedPrecondition);
    expect(await codeOf(call("Checkpoint", T.CheckpointTaskRequestSchema, EmptySchema, { id: "c1" }))).toBe(Code.Unimplemented);
    expect(await codeOf(call("State", T.StateRequestSchema, T.StateResponseSchema, { id: "nope" }))).toBe(Code.NotFound);
    expect(await codeOf(call("Kill", T.KillRequestSchema, EmptySchema, { id: "c1", execId: "zz", signal: 9 }))).toBe(Code.NotFound);

    // The init process exits: Wait answers, Kill without all is "process already finished", with all it sweeps.
    const waiting = call("Wait", T.WaitRequestSchema, T.WaitResponseSchema, { id: "c1" });
    exits[0]!(137);
    const w = await waiting;
    expect(w.exitStatus).toBe(137);
    expect(w.exitedAt).toBeDefined();
    expect(await codeOf(call("Kill", T.KillRequestSchema, EmptySchema, { id: "c1", signal: 15 }))).toBe(Code.NotFound);
    const st = await call("State", T.StateRequestSchema, T.StateResponseSchema, { id: "c1" });
    expect(st.status).toBe(Status.STOPPED);
    expect(st.exitStatus).toBe(137);

    // Shutdown while a task is left does nothing; Delete removes the container from husk, then Shutdown ends the server.
    await call("Shutdown", T.ShutdownRequestSchema, EmptySchema, { id: "c1" });
    await Bun.sleep(100);
    expect(shutdowns).toBe(0);
    const d = await call("Delete", T.DeleteRequestSchema, T.DeleteResponseSchema, { id: "c1" });
    expect(d.exitStatus).toBe(137);
    await expect(statusContainer(env.ctx, "c1", "c1")).rejects.toThrow(/not found/);
    await call("Shutdown", T.ShutdownRequestSchema, EmptySchema, { id: "c1" });
    await Bun.sleep(100);
    expect(shutdowns).toBe(1);

    expect(events).toEqual([
      "TaskCreate c1",
      "TaskStart c1",
      "TaskExecAdded c1/e1",
      "TaskExecStarted c1/e1",
      "TaskExit c1 0",
      "TaskExit c1 137",
      "TaskDelete c1",
    ]);
  });

  test("a created task can be deleted; a bad bundle and a checkpoint restore are refused with nothing left", async () => {
    const bundle = env.bundle("b2");
    await call("Create", T.CreateTaskRequestSchema, T.CreateTaskResponseSchema, { id: "c2", bundle });
    const del = call("Delete", T.DeleteRequestSchema, T.DeleteResponseSchema, { id: "c2" });
    await Bun.sleep(50);
    exits[0]!(137); // its process goes with the container
    await del;
    expect(events).toEqual(["TaskCreate c2", "TaskDelete c2"]);

    expect(await codeOf(call("Create", T.CreateTaskRequestSchema, T.CreateTaskResponseSchema, { id: "c3", bundle: "relative" }))).toBe(
      Code.InvalidArgument,
    );
    expect(
      await codeOf(call("Create", T.CreateTaskRequestSchema, T.CreateTaskResponseSchema, { id: "c3", bundle: join(env.dir, "missing") })),
    ).not.toBe(Code.OK);
    expect(
      await codeOf(call("Create", T.CreateTaskRequestSchema, T.CreateTaskResponseSchema, { id: "c3", bundle, checkpoint: "/x" })),
    ).toBe(Code.Unimplemented);
    expect(await codeOf(call("Create", T.CreateTaskRequestSchema, T.CreateTaskResponseSchema, { id: "../x", bundle }))).toBe(
      Code.InvalidArgument,
    );
    expect(await codeOf(call("State", T.StateRequestSchema, T.StateResponseSchema, { id: "c3" }))).toBe(Code.NotFound);
  });

  test("a malformed request payload is InvalidArgument", async () => {
    const junk = new Uint8Array([0xff, 0xff, 0xff]);
    const code = await client.call(TASK_SERVICE, "State", junk).then(
      () => -1,
      (e: TtrpcCallError) => e.grpcCode,
    );
    expect(code).toBe(Code.InvalidArgument);
  });
});
