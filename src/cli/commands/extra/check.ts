import { defineCommand } from "citty";
import { runChecks } from "../../lib/check.ts";
import { cliConfig } from "../../lib/config.ts";
import { strict } from "../../lib/flags.ts";
import { formatArg, outputFormat, printJson, printTable } from "../../lib/output.ts";

export default defineCommand(
  strict(
    {
      meta: { name: "check", description: "check that this host can run husk (QEMU, kernel, image, accelerator, cgroups)" },
      args: { format: formatArg },
      async run({ args }) {
        const format = outputFormat(args.format);
        const result = await runChecks(cliConfig());
        if (format === "json") printJson(result);
        else {
          printTable(
            ["CHECK", "RESULT", "DETAIL"],
            result.checks.map((c) => [c.name, c.ok ? "ok" : c.required ? "FAIL" : "warn", c.detail]),
          );
        }
        // A host that cannot run husk is an answer, not an error: report it, exit 1.
        if (!result.ok) process.exitCode = 1;
      },
    },
    { maxPositionals: 0 },
  ),
);
