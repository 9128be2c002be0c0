import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import * as T from "./task-messages.ts";
import { Code, RpcStatus, type Handler, unaryHandler } from "./ttrpc.ts";
import type { TaskService } from "./service.ts";

/** The service name ttrpc routes by: the generated descriptor's ("containerd.task.v2.Task"). */
export const TASK_SERVICE = T.Task.typeName;

/** containerd.task.v2.Task's methods, each decoded, run on the task service and encoded (unaryHandler checks both ways). */
export function taskHandlers(svc: TaskService): Map<string, Handler> {
  const h = new Map<string, Handler>();
  const add = <I extends DescMessage, O extends DescMessage>(
    name: string,
    input: I,
    output: O,
    fn: (req: MessageShape<I>) => Promise<MessageShape<O>>,
  ) => h.set(`${TASK_SERVICE}/${name}`, unaryHandler(input, output, fn));
  const empty = () => create(EmptySchema);
  add("Create", T.CreateTaskRequestSchema, T.CreateTaskResponseSchema, async (r) =>
    create(T.CreateTaskResponseSchema, { pid: await svc.create(r) }),
  );
  add("Start", T.StartRequestSchema, T.StartResponseSchema, async (r) =>
    create(T.StartResponseSchema, { pid: await svc.start(r.id, r.execId) }),
  );
  add("State", T.StateRequestSchema, T.StateResponseSchema, (r) => svc.state(r.id, r.execId));
  add("Delete", T.DeleteRequestSchema, T.DeleteResponseSchema, (r) => svc.delete(r.id, r.execId));
  add("Pids", T.PidsRequestSchema, T.PidsResponseSchema, (r) => svc.pids(r.id));
  add("Pause", T.PauseRequestSchema, EmptySchema, async (r) => svc.pause(r.id, true).then(() => empty()));
  add("Resume", T.ResumeRequestSchema, EmptySchema, async (r) => svc.pause(r.id, false).then(() => empty()));
  add("Checkpoint", T.CheckpointTaskRequestSchema, EmptySchema, async () => {
    throw new RpcStatus(Code.Unimplemented, "checkpoint is not supported by husk (a VM's container cannot be checkpointed yet)");
  });
  add("Kill", T.KillRequestSchema, EmptySchema, async (r) => svc.kill(r).then(() => empty()));
  add("Exec", T.ExecProcessRequestSchema, EmptySchema, async (r) => svc.exec(r).then(() => empty()));
  add("ResizePty", T.ResizePtyRequestSchema, EmptySchema, async (r) => svc.resize(r).then(() => empty()));
  add("CloseIO", T.CloseIORequestSchema, EmptySchema, async (r) => {
    svc.closeIo(r);
    return empty();
  });
  add("Update", T.UpdateTaskRequestSchema, EmptySchema, async (r) => svc.update(r).then(() => empty()));
  add("Wait", T.WaitRequestSchema, T.WaitResponseSchema, (r) => svc.wait(r.id, r.execId));
  add("Stats", T.StatsRequestSchema, T.StatsResponseSchema, (r) => svc.stats(r.id));
  add("Connect", T.ConnectRequestSchema, T.ConnectResponseSchema, async (r) => svc.connect(r.id));
  add("Shutdown", T.ShutdownRequestSchema, EmptySchema, async (r) => {
    svc.shutdown(r.now);
    return empty();
  });
  return h;
}
