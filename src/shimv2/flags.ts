import { createHash } from "node:crypto";
import { join } from "node:path";
import * as v from "valibot";
import { UsageError } from "../host/errors.ts";
import { ID_PATTERN } from "../host/ids.ts";
import { parseOr } from "../host/valid.ts";

/**
 * containerd's shim v2 command line, Go flag style:
 *   containerd-shim-husk-v2 -namespace N -address A -publish-binary B -id ID [-bundle B] [-debug] start|delete
 * and husk's own `serve` action for the detached server that `start` leaves.
 * Every value is checked before it reaches a path or a socket.
 */

const VALUE_FLAGS = new Set(["namespace", "address", "publish-binary", "id", "bundle", "socket"]);
const BOOL_FLAGS = new Set(["debug", "v"]);
export const ACTIONS = ["start", "delete", "serve"] as const;

/** containerd's namespace rule (namespaces.Validate): a label, dots allowed, ≤ 76 characters. */
const NAMESPACE = /^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$/;

const ShimArgsSchema = v.strictObject({
  action: v.picklist(ACTIONS),
  namespace: v.pipe(v.string(), v.maxLength(76), v.regex(NAMESPACE, "invalid namespace")),
  id: v.pipe(v.string(), v.regex(ID_PATTERN, "invalid id")),
  address: v.pipe(v.string(), v.minLength(1), v.maxLength(4096)),
  publishBinary: v.optional(v.pipe(v.string(), v.maxLength(4096))),
  bundle: v.optional(v.pipe(v.string(), v.startsWith("/", "must be an absolute path"), v.maxLength(4096))),
  socket: v.optional(v.pipe(v.string(), v.startsWith("/", "must be an absolute path"), v.maxLength(107))),
  debug: v.boolean(),
  version: v.boolean(),
});
export type ShimArgs = v.InferOutput<typeof ShimArgsSchema>;

export function parseShimArgs(argv: readonly string[]): ShimArgs {
  const values: Record<string, string> = {};
  const bools = new Set<string>();
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("-")) break;
    if (arg === "--") {
      i++;
      break;
    }
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (VALUE_FLAGS.has(name)) {
      const value = eq >= 0 ? body.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`shim-v2: flag needs an argument: -${name}`);
      values[name] = value;
    } else if (BOOL_FLAGS.has(name)) {
      const value = eq >= 0 ? body.slice(eq + 1) : "true";
      if (value === "true" || value === "1") bools.add(name);
      else if (value !== "false" && value !== "0") throw new UsageError(`shim-v2: invalid boolean value for -${name}`);
    } else {
      throw new UsageError(`shim-v2: flag provided but not defined: -${name}`);
    }
  }
  const rest = argv.slice(i);
  if (bools.has("v")) {
    return { action: "start", namespace: "default", id: "version", address: "-", debug: false, version: true };
  }
  if (rest.length !== 1) throw new UsageError(`shim-v2: expected one action (${ACTIONS.join(", ")}), got ${JSON.stringify(rest)}`);
  return parseOr(
    ShimArgsSchema,
    {
      action: rest[0],
      namespace: values.namespace ?? process.env.NAMESPACE ?? "",
      id: values.id ?? "",
      address: values.address ?? "",
      ...(values["publish-binary"] !== undefined ? { publishBinary: values["publish-binary"] } : {}),
      ...(values.bundle !== undefined ? { bundle: values.bundle } : {}),
      ...(values.socket !== undefined ? { socket: values.socket } : {}),
      debug: bools.has("debug"),
      version: false,
    },
    ({ path, message }) => new UsageError(`shim-v2: ${path ? `${path}: ` : ""}${message}`),
  );
}

/**
 * The server's socket: one per (namespace, group), under husk's root so that
 * everything of a root stays under it. The group is the pod's sandbox id for
 * a pod's containers (one shim per pod), else the container's own id. Hashed:
 * ids are 64 characters and sun_path holds 107 bytes.
 */
export function shimSocketPath(root: string, namespace: string, group: string): string {
  const h = createHash("sha256").update(`${namespace}/${group}`).digest("hex").slice(0, 32);
  return join(root, "s", `${h}.sock`);
}
