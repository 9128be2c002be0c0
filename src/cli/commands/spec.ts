import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defineCommand } from "citty";
import { AlreadyExistsError, IoError } from "../../host/errors.ts";
import { defaultSpec } from "../lib/default-spec.ts";
import { strict } from "../lib/flags.ts";

export default defineCommand(
  strict(
    {
      meta: { name: "spec", description: "create a new specification file (config.json) in the bundle" },
      args: {
        bundle: { type: "string", alias: "b", description: "path to the bundle (default: current directory)" },
        rootless: { type: "boolean", description: "generate a configuration for a rootless container" },
      },
      run({ args }) {
        const path = join(args.bundle ?? process.cwd(), "config.json");
        if (existsSync(path)) throw new AlreadyExistsError(`${path} exists: remove it first`, { details: { path } });
        const spec = defaultSpec({ rootless: args.rootless === true, uid: process.getuid?.(), gid: process.getgid?.() });
        try {
          writeFileSync(path, `${JSON.stringify(spec, null, "\t")}\n`, { mode: 0o644, flag: "wx" });
        } catch (e) {
          throw new IoError(`cannot write ${path}: ${(e as Error).message}`, { cause: e });
        }
      },
    },
    { maxPositionals: 0 },
  ),
);
