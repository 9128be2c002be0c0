import { containerById } from "./lookup.ts";
import { existsSync } from "node:fs";
import {
  createContainer,
  createSandbox,
  deleteContainer,
  deleteSandbox,
  fetchSandbox,
  sandboxOfContainer,
  statusContainer,
  type ContainerStatus,
} from "../core/api.ts";
import type { RuntimeContext } from "../core/ports.ts";
import { InvalidStateError, NotFoundError, UsageError } from "../host/errors.ts";
import { validateId } from "../host/ids.ts";
import type { LaunchIo } from "../core/ports.ts";
import { loadBundle } from "../oci/bundle.ts";
import { ociStatus } from "../core/status.ts";
import { sandboxDir } from "../host/layout.ts";
import { podSandboxOf } from "./pod.ts";

/**
 * What runc's container-level commands mean in husk's sandbox API: which
 * sandbox a container id lives in, create as "new sandbox" or "join the
 * pod's sandbox", and delete that takes the VM with the last container.
 */

export interface CreateRequest {
  id: string;
  bundle: string;
  /** terminal comes from the spec's process.terminal. */
  io: Omit<LaunchIo, "terminal">;
}

export async function createFromBundle(ctx: RuntimeContext, req: CreateRequest): Promise<ContainerStatus> {
  validateId(req.id, "container id");
  const { bundle, spec } = loadBundle(req.bundle);
  const io: LaunchIo = { ...req.io, terminal: spec.process?.terminal === true };
  checkTerminalIo(io);
  const container = { id: req.id, bundle, spec, io, ...(spec.annotations ? { annotations: spec.annotations } : {}) };
  const pod = podSandboxOf(req.id, spec.annotations);
  if (pod) return createContainer(ctx, sandboxOfContainer(ctx.root, pod), container);
  const sandbox = await createSandbox(ctx, {
    id: req.id,
    containers: [container],
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
  });
  const c = sandbox.containers.find((x) => x.id === req.id);
  return c ?? statusContainer(ctx, req.id, req.id);
}

/**
 * runc delete: a created or stopped container (any with --force). The last
 * container of a sandbox takes the sandbox with it: VM stopped, files gone.
 */
export async function deleteById(ctx: RuntimeContext, id: string, force: boolean): Promise<void> {
  let found: Awaited<ReturnType<typeof containerById>>;
  try {
    found = await containerById(ctx, id);
  } catch (e) {
    // runc: delete --force of a container that does not exist succeeds (containerd cleans up with it).
    // A `create` killed before it recorded the container leaves a sandbox of the same id: remove it.
    if (force && e instanceof NotFoundError) {
      if (existsSync(sandboxDir(ctx.root, id))) await deleteSandbox(ctx, id, { force: true });
      return;
    }
    throw e;
  }
  const { sid, status } = found;
  if (!force && status.state !== "ready" && status.state !== "stopped") {
    throw new InvalidStateError(`cannot delete container ${id} that is not stopped: ${ociStatus(status.state)}`, {
      details: { id, status: ociStatus(status.state) },
    });
  }
  const sb = await fetchSandbox(ctx, sid);
  if (sb.containers.length <= 1) {
    // The container itself is checked above; the sandbox is running only because of it.
    await deleteSandbox(ctx, sid, { force: true });
    return;
  }
  await deleteContainer(ctx, sid, id, { force });
  const after = await fetchSandbox(ctx, sid);
  if (after.containers.length === 0) await deleteSandbox(ctx, sid, { force: true });
}

/** runc's rules: a detached tty needs somewhere to send it; a console socket needs a tty. */
export function checkTerminalIo(io: LaunchIo): void {
  if (io.terminal && io.detach && !io.consoleSocket) {
    throw new UsageError("cannot allocate a tty if husk detaches without a console socket (--console-socket)");
  }
  if (!io.terminal && io.consoleSocket) {
    throw new UsageError("cannot use a console socket when the process has no terminal (process.terminal is false)");
  }
}
