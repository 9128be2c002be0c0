import { defineCommand } from "citty";
import { features } from "../lib/features.ts";
import { strict } from "../lib/flags.ts";

export default defineCommand(
  strict(
    {
      meta: { name: "features", description: "show the enabled features (JSON)" },
      args: {},
      run() {
        console.log(JSON.stringify(features(), null, 4));
      },
    },
    { maxPositionals: 0 },
  ),
);
