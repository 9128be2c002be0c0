import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { sandboxOfContainer, statusContainer } from "../core/api.ts";
import { podSandboxOf } from "../runtime/pod.ts";
import { deleteById } from "../runtime/operations.ts";
import type { RuntimeContext } from "../core/ports.ts";
import { NotFoundError, ShimError, TimeoutError } from "../host/errors.ts";
import { writeFileAtomic } from "../host/json-file.ts";
import { logger } from "../host/log.ts";
import { loadBundle } from "../oci/bundle.ts";
import { mountsUnder, unmountAll } from "../host/mounts.ts";
import { DeleteResponseSchema, ShutdownRequestSchema } from "./task-messages.ts";
import type { Publisher } from "./events.ts";
import type { ShimArgs } from "./flags.ts";
import { shimSocketPath } from "./flags.ts";
import { TASK_SERVICE, type TaskService } from "./service.ts";
import { serveTtrpc, TtrpcClient } from "./ttrpc.ts";

/**
 * The three lives of containerd-shim-husk-v2:
 *  - `start`: find or spawn the server for this task's pod and print its
 *    address (containerd reads stdout and stderr together: nothing else);
 *  - `serve`: the detached server (ttrpc task service) until Shutdown;
 *  - `delete`: containerd's cleanup when the server is gone or done: remove
 *    what is left of the container (VM, mounts, state) and print a
 *    DeleteResponse.
 */

const log = logger("shimv2");
const SERVE_READY_MS = 10_000;
/** Status reported for a container whose end nobody saw (as runc's shim: SIGKILL). */
const UNKNOWN_EXIT = 137;

export interface StartOptions {
  args: ShimArgs;
  root: string;
  /** husk's own command (+ global flags) to run `shim-v2 ... serve`. */
  self: string[];
  bundle: string;
}

/** The pod a bundle's container belongs to (its sandbox's id), or its own id. */
export function shimGroup(id: string, bundle: string): string {
  try {
    const { spec } = loadBundle(bundle);
    return podSandboxOf(id, spec.annotations) ?? id;
  } catch {
    return id;
  }
}

async function answers(socket: string): Promise<boolean> {
  if (!existsSync(socket)) return false;
  try {
    const c = await TtrpcClient.connect(socket);
    c.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * containerd reads the shim's address from <bundle>/address when it
 * restarts and reconnects (the shim writes it, as containerd's runc shim
 * does); without it the task is taken for dead and cleaned up.
 */
function writeAddress(bundle: string, address: string): void {
  writeFileAtomic(join(bundle, "address"), address);
}

/** Ask a server left from an earlier task of the same id to go, and wait until it has. */
async function retireStale(socket: string): Promise<void> {
  log.warn(`a shim server from an earlier task answers on ${socket}: shutting it down`);
  try {
    const c = await TtrpcClient.connect(socket);
    await c
      .call(TASK_SERVICE, "Shutdown", toBinary(ShutdownRequestSchema, create(ShutdownRequestSchema, { now: true })), 2000)
      .catch(() => {});
    c.close();
  } catch {
    // gone meanwhile
  }
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && (await answers(socket))) await Bun.sleep(50);
}

export async function shimStart(o: StartOptions): Promise<string> {
  const group = shimGroup(o.args.id, o.bundle);
  const socket = shimSocketPath(o.root, o.args.namespace, group);
  if (await answers(socket)) {
    // A pod's container: its pod's shim serves it.
    if (group !== o.args.id) {
      writeAddress(o.bundle, `unix://${socket}`);
      return `unix://${socket}`;
    }
    // Our own id's socket answering is a server that outlived its task: never hand it the new one.
    await retireStale(socket);
  }
  mkdirSync(join(o.root, "s"), { recursive: true, mode: 0o700 });
  const logFile = join(o.bundle, "husk-shim.log");
  const out = openSync(logFile, "a", 0o600);
  const cmd = [
    ...o.self,
    "--log",
    logFile,
    ...(o.args.debug ? ["--debug"] : []),
    "shim-v2",
    "-namespace",
    o.args.namespace,
    "-address",
    o.args.address,
    ...(o.args.publishBinary ? ["-publish-binary", o.args.publishBinary] : []),
    "-id",
    o.args.id,
    "-bundle",
    o.bundle,
    "-socket",
    socket,
    "serve",
  ];
  const proc = Bun.spawn({ cmd, cwd: "/", stdio: ["ignore", out, out], detached: true, env: process.env });
  closeSync(out);
  const deadline = Date.now() + SERVE_READY_MS;
  let exited = false;
  void proc.exited.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (await answers(socket)) {
      proc.unref();
      writeAddress(o.bundle, `unix://${socket}`);
      return `unix://${socket}`;
    }
    if (exited) break;
    await Bun.sleep(20);
  }
  const tail = readFileSync(logFile, "utf8").split("\n").slice(-10).join("\n");
  if (!exited) {
    proc.kill("SIGKILL");
    throw new TimeoutError(`shim server did not listen on ${socket} within ${SERVE_READY_MS} ms: ${tail}`);
  }
  throw new ShimError(`shim server exited (${proc.exitCode ?? proc.signalCode}) before listening: ${tail}`);
}

export interface ServeOptions {
  args: ShimArgs;
  service: TaskService;
  publisher: Publisher;
  /** Resolves when the service has nothing left to serve (Shutdown). */
  shutdown: Promise<void>;
}

/** Serve until Shutdown (or SIGTERM) and exit. */
export async function shimServe(o: ServeOptions): Promise<never> {
  const socket = o.args.socket;
  if (!socket) throw new ShimError("shim-v2 serve needs -socket");
  const server = serveTtrpc(socket, o.service.handlers());
  log.debug(`serving ${o.args.namespace}/${o.args.id} on ${socket}`);
  const signalled = new Promise<void>((resolve) => {
    process.on("SIGTERM", () => resolve());
    process.on("SIGINT", () => resolve());
  });
  process.on("SIGPIPE", () => {});
  await Promise.race([o.shutdown, signalled]);
  server.close();
  o.publisher.close();
  log.debug(`shim ${o.args.id} exits (${o.service.size} tasks left)`);
  process.exit(0);
}

export interface DeleteOptions {
  args: ShimArgs;
  ctx: RuntimeContext;
  bundle: string;
}

/**
 * containerd's `delete` call (after Shutdown, or when the server died):
 * whatever is left of the container goes (its sandbox too when it was the
 * last one: a pod's VM stays while its other containers live), the rootfs
 * containerd mounted is unmounted. Prints the DeleteResponse bytes.
 */
export async function shimDelete(o: DeleteOptions): Promise<Uint8Array> {
  const id = o.args.id;
  let exitStatus = UNKNOWN_EXIT;
  try {
    const st = await statusContainer(o.ctx, sandboxOfContainer(o.ctx.root, id), id);
    if (st.exitCode !== undefined) exitStatus = st.exitCode;
    await deleteById(o.ctx, id, true);
  } catch (e) {
    if (!(e instanceof NotFoundError)) throw e;
    log.debug(`delete ${id}: nothing left in husk`);
  }
  const rootfs = join(o.bundle, "rootfs");
  if (mountsUnder(rootfs).length > 0) await unmountAll(rootfs);
  const socket = shimSocketPath(o.ctx.root, o.args.namespace, id);
  // A server that died leaves its socket; a live one (a pod's) keeps it.
  if (existsSync(socket) && !(await answers(socket))) rmSync(socket, { force: true });
  return toBinary(DeleteResponseSchema, create(DeleteResponseSchema, { pid: 0, exitStatus, exitedAt: timestampFromDate(new Date()) }));
}
