import * as v from "valibot";
import { LaunchIoSchema } from "../core/ports.ts";
import { ERROR_CODES } from "../host/errors.ts";
import { ID_PATTERN } from "../host/ids.ts";
import { ProcessSchema, SpecSchema } from "../oci/spec.ts";

/**
 * What the launching CLI and its shim say to each other over the handshake
 * socket (one JSON line each way): the launch request, then the shim's
 * report once the guest process exists (or why it could not be made).
 * Both sides validate: the shim is a separate process reading a socket.
 */

const id = v.pipe(v.string(), v.regex(ID_PATTERN, "invalid id"));
const absPath = v.pipe(v.string(), v.startsWith("/", "must be an absolute path"));

export const ShimRequestSchema = v.variant("kind", [
  v.strictObject({
    kind: v.literal("init"),
    sandboxId: id,
    sandboxDir: absPath,
    containerId: id,
    spec: SpecSchema,
    io: LaunchIoSchema,
  }),
  v.strictObject({
    kind: v.literal("exec"),
    sandboxId: id,
    sandboxDir: absPath,
    containerId: id,
    execId: id,
    process: ProcessSchema,
    io: LaunchIoSchema,
  }),
]);
export type ShimRequest = v.InferOutput<typeof ShimRequestSchema>;

export const ShimReportSchema = v.variant("ok", [
  v.strictObject({ ok: v.literal(true), pid: v.pipe(v.number(), v.integer()), guestPid: v.pipe(v.number(), v.integer()) }),
  v.strictObject({
    ok: v.literal(false),
    error: v.object({ code: v.picklist(ERROR_CODES), message: v.string(), details: v.optional(v.record(v.string(), v.unknown())) }),
  }),
]);
export type ShimReport = v.InferOutput<typeof ShimReportSchema>;
