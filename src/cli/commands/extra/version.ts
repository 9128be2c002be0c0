import { defineCommand } from "citty";
import { OCI_VERSION } from "../../../oci/spec.ts";
import { COMMIT, VERSION } from "../../../host/version.ts";
import { strict } from "../../lib/flags.ts";

/** The text runc prints for `--version` / `version`, with husk's values. */
export function versionText(): string {
  return [`husk version ${VERSION}`, `commit: ${COMMIT}`, `spec: ${OCI_VERSION}`, `bun: ${Bun.version}`].join("\n");
}

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
