import { defineCommand } from "citty";
import { runShim } from "../../../shim/shim.ts";
import { strict } from "../../lib/flags.ts";

/** Hidden: the per-process shim (spawned by the ShimLauncher, never by hand). */
export default defineCommand(
  strict(
    {
      meta: { name: "shim", description: "stand for a container process on the host (internal)", hidden: true },
      args: { handshake: { type: "string", required: true, description: "socket of the launching husk" } },
      async run({ args }) {
        await runShim(args.handshake);
      },
    },
    { maxPositionals: 0 },
  ),
);
