import { defineCommand } from "citty";
import { startContainer } from "../../core/api.ts";
import { InvalidStateError } from "../../host/errors.ts";
import { ociStatus } from "../../core/status.ts";
import { cliRuntime } from "../lib/runtime.ts";
import { strict } from "../lib/flags.ts";
import { containerById } from "../../runtime/lookup.ts";

export default defineCommand(
  strict(
    {
      meta: { name: "start", description: "run the user process of a created container" },
      args: { id: { type: "positional", description: "container id", required: true } },
      async run({ args }) {
        const { ctx } = await cliRuntime();
        const { sid, status } = await containerById(ctx, args.id);
        // runc and the runtime spec: only a created container starts. (The
        // core also restarts stopped ones, as Kata's API does; the CLI does not.)
        if (status.state !== "ready") {
          throw new InvalidStateError(`cannot start container ${args.id}: it is ${ociStatus(status.state)}, not created`, {
            details: { id: args.id, status: ociStatus(status.state) },
          });
        }
        await startContainer(ctx, sid, args.id);
      },
    },
    { maxPositionals: 1 },
  ),
);
