import { defineCommand } from "citty";
import { DEFAULT_IMAGE_DIR } from "../../../config/schema.ts";
import { resolveBinary } from "../../../hypervisor/qemu/probe.ts";
import { OCI_VERSION } from "../../../oci/spec.ts";
import { selfExecutable } from "../../../host/self.ts";
import { COMMIT, VERSION } from "../../../host/version.ts";
import { globals } from "../../globals.ts";
import { cliConfig, cliConfigPath } from "../../lib/config.ts";
import { strict } from "../../lib/flags.ts";
import { formatArg, outputFormat, printJson } from "../../lib/output.ts";

export default defineCommand(
  strict(
    {
      meta: { name: "env", description: "show effective paths and versions" },
      args: { format: formatArg },
      run({ args }) {
        const format = outputFormat(args.format);
        const config = cliConfig();
        const env = {
          version: VERSION,
          commit: COMMIT,
          ociVersion: OCI_VERSION,
          bun: Bun.version,
          binary: selfExecutable(),
          configFile: cliConfigPath(),
          root: config.runtime.root,
          imageDir: DEFAULT_IMAGE_DIR,
          hypervisor: {
            path: resolveBinary(config.hypervisor.path) ?? config.hypervisor.path,
            kernel: config.hypervisor.kernel,
            initrd: config.hypervisor.initrd,
            machine: config.hypervisor.machine,
            accelerator: config.hypervisor.accelerator,
            vcpus: config.hypervisor.vcpus,
            memoryMiB: config.hypervisor.memory_mib,
          },
          // The agent channel is always a virtio-serial port (no vsock yet).
          agent: { transport: "virtio-serial", debug: config.agent.debug },
          plugins: [...Object.keys(config.plugins), ...globals().plugins],
        };
        if (format === "json") return printJson(env);
        const flat = (obj: Record<string, unknown>, prefix = ""): string[] =>
          Object.entries(obj).flatMap(([k, v]) =>
            v && typeof v === "object" && !Array.isArray(v)
              ? flat(v as Record<string, unknown>, `${prefix}${k}.`)
              : [`${prefix}${k}=${Array.isArray(v) ? v.join(",") : String(v)}`],
          );
        process.stdout.write(`${flat(env).join("\n")}\n`);
      },
    },
    { maxPositionals: 0 },
  ),
);
