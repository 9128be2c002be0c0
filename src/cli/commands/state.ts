import { defineCommand } from "citty";
import { cliReadContext } from "../lib/runtime.ts";
import { strict } from "../lib/flags.ts";
import { containerById } from "../../runtime/lookup.ts";
import { runcState } from "../lib/state.ts";

export default defineCommand(
  strict(
    {
      meta: { name: "state", description: "print the OCI state of a container (JSON)" },
      args: { id: { type: "positional", description: "container id", required: true } },
      async run({ args }) {
        const ctx = await cliReadContext();
        const { status } = await containerById(ctx, args.id);
        console.log(JSON.stringify(runcState(status), null, 2));
      },
    },
    { maxPositionals: 1 },
  ),
);
