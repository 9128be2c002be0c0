import { readFileSync, rmSync } from "node:fs";
import { defineCommand } from "citty";
import type * as v from "valibot";
import { buildVmSpec } from "../../../core/vmspec.ts";
import { moveToHostRoot } from "../../../host/cgroup.ts";
import { FactoryError, UsageError } from "../../../host/errors.ts";
import { parseOr } from "../../../host/valid.ts";
import { destroyFactory, factoryStatus } from "../../../factory/status.ts";
import { VmSpecSchema } from "../../../hypervisor/spec.ts";
import { buildTemplate } from "../../../monitor/template-build.ts";
import { cliConfig } from "../../lib/config.ts";
import { strict } from "../../lib/flags.ts";
import { formatArg, outputFormat, printJson } from "../../lib/output.ts";

/**
 * `husk factory init|status|destroy`: VM templates (src/factory/). Every
 * command prints JSON on stdout.
 */

/** Output is JSON either way; --format is accepted (and checked) so that errors come as JSON too. */
function factoryDir(given: string | undefined, format?: string): string {
  outputFormat(format);
  const dir = given ?? cliConfig().factory.dir;
  if (!dir.startsWith("/")) throw new UsageError("--factory-dir must be an absolute path");
  return dir;
}

function positiveInt(value: string | undefined, flag: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new UsageError(`${flag} must be an integer from 0 to ${max}`);
  return n;
}

const init = defineCommand(
  strict(
    {
      meta: { name: "init", description: "make the VM template new sandboxes are cloned from (the configured size, or the one given)" },
      args: {
        vcpus: { type: "string", description: "vCPUs (default hypervisor.vcpus)" },
        memory: { type: "string", description: "memory in MiB (default hypervisor.memory_mib)" },
        nics: { type: "string", description: "number of NICs (0 for no network, 1 for podman's or CNI's bridge; default 0)" },
        "factory-dir": { type: "string", description: "template directory (default [factory] dir)" },
        request: { type: "string", description: "(internal) build for the VM spec in this file, then remove it" },
        format: formatArg,
      },
      async run({ args }) {
        const dir = factoryDir(args["factory-dir"], args.format);
        let spec: v.InferOutput<typeof VmSpecSchema>;
        if (args.request) {
          // A background build a monitor started: it must not stay in (or be charged to) that sandbox's cgroup.
          moveToHostRoot(process.pid);
          let json: unknown;
          try {
            json = JSON.parse(readFileSync(args.request, "utf8"));
          } finally {
            rmSync(args.request, { force: true });
          }
          spec = parseOr(VmSpecSchema, json, ({ message }) => new FactoryError(`template request ${args.request} is invalid: ${message}`));
        } else {
          const config = cliConfig();
          const vcpus = positiveInt(args.vcpus, "--vcpus", 256) ?? config.hypervisor.vcpus;
          const memoryMiB = positiveInt(args.memory, "--memory", 1024 * 1024) ?? config.hypervisor.memory_mib;
          if (vcpus < 1) throw new UsageError("--vcpus must be at least 1");
          if (memoryMiB < 64) throw new UsageError("--memory must be at least 64 (MiB)");
          const nics = positiveInt(args.nics, "--nics", 16) ?? 0;
          spec = buildVmSpec(config, "template", dir, { vcpus, memoryMiB });
          if (nics) spec.network = { netns: "/proc/self/ns/net", nics: Array.from({ length: nics }, (_, i) => ({ tap: `tpl${i}` })) };
        }
        const result = await buildTemplate(spec, {
          factoryDir: dir,
          waitMs: args.request ? 0 : 600_000,
          maxTemplates: cliConfig().factory.max_templates,
        });
        if (result.status === "busy") {
          printJson({ status: "busy", message: "another process is building this template" });
          return;
        }
        const r = result.template.record;
        printJson({
          status: result.status,
          key: r.key,
          dir: result.template.dir,
          vcpus: r.vcpus,
          memoryMiB: r.memoryMiB,
          nics: r.nics,
          bootMs: r.bootMs,
          saveMs: r.saveMs,
        });
      },
    },
    { maxPositionals: 0 },
  ),
);

const status = defineCommand(
  strict(
    {
      meta: { name: "status", description: "list the VM templates (JSON): key, size, age, the image each was made from" },
      args: { "factory-dir": { type: "string", description: "template directory (default [factory] dir)" }, format: formatArg },
      run({ args }) {
        const config = cliConfig();
        printJson({ enabled: config.factory.template, ...factoryStatus(factoryDir(args["factory-dir"], args.format)) });
      },
    },
    { maxPositionals: 0 },
  ),
);

const destroy = defineCommand(
  strict(
    {
      meta: { name: "destroy", description: "remove every VM template (running clones keep working)" },
      args: { "factory-dir": { type: "string", description: "template directory (default [factory] dir)" }, format: formatArg },
      async run({ args }) {
        printJson(await destroyFactory(factoryDir(args["factory-dir"], args.format)));
      },
    },
    { maxPositionals: 0 },
  ),
);

export default defineCommand({
  meta: { name: "factory", description: "VM templates: new sandboxes start as clones of a booted, ready VM" },
  subCommands: { init, status, destroy },
});
