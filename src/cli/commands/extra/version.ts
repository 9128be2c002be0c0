import { defineCommand } from "citty";
import { strict } from "../../lib/flags.ts";
import { versionText } from "../../lib/version.ts";

export default defineCommand(
  strict(
    {
      meta: { name: "version", description: "print the version, commit and OCI spec version" },
      args: {},
      run() {
        console.log(versionText());
      },
    },
    { maxPositionals: 0 },
  ),
);
