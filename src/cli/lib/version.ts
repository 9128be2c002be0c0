import { COMMIT, VERSION } from "../../host/version.ts";
import { OCI_VERSION } from "../../oci/version.ts";

/** The text runc prints for `--version` / `version`, with husk's values. */
export function versionText(): string {
  return [`husk version ${VERSION}`, `commit: ${COMMIT}`, `spec: ${OCI_VERSION}`, `bun: ${Bun.version}`].join("\n");
}
