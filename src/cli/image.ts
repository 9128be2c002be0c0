import { defineCommand } from "citty";
import { UsageError } from "../errors.ts";
import { buildImage } from "../image/build.ts";
import { strict } from "./lib/flags.ts";
import { printJson } from "./lib/output.ts";

const KERNELS = ["auto", "minimal", "debian"] as const;

const build = defineCommand(
  strict(
    {
      meta: { name: "build", description: "build the guest kernel and initramfs from the host's Debian packages" },
      args: {
        output: { type: "string", alias: "o", description: "output directory (default /var/lib/husk/image)" },
        kernel: { type: "string", description: "auto (minimal kernel, Debian's as fallback), minimal or debian" },
        "kernel-only": { type: "boolean", description: "build only the kernel" },
        force: { type: "boolean", description: "rebuild everything, the kernel compile included" },
        agent: { type: "string", description: "agent executable to put in the image (default: this husk)" },
        jobs: { type: "string", alias: "j", description: "parallel kernel build jobs" },
        "cache-dir": { type: "string", description: "kernel build cache (default /var/cache/husk/kernel)" },
      },
      async run({ args }) {
        const kernel = args.kernel ?? "auto";
        if (!(KERNELS as readonly string[]).includes(kernel)) throw new UsageError(`--kernel must be one of ${KERNELS.join(", ")}`);
        const jobs = args.jobs === undefined ? undefined : Number(args.jobs);
        if (jobs !== undefined && !(Number.isInteger(jobs) && jobs > 0)) throw new UsageError("--jobs must be a positive integer");
        const manifest = await buildImage({
          kernel: kernel as (typeof KERNELS)[number],
          ...(args.output ? { output: args.output } : {}),
          ...(args["kernel-only"] ? { kernelOnly: true } : {}),
          ...(args.force ? { force: true } : {}),
          ...(args.agent ? { agentPath: args.agent } : {}),
          ...(jobs ? { jobs } : {}),
          ...(args["cache-dir"] ? { cacheDir: args["cache-dir"] } : {}),
          // Progress on stderr: a build takes minutes and stdout carries the manifest.
          onProgress: (e) => process.stderr.write(`[${e.step}] ${e.message}\n`),
        });
        printJson(manifest);
      },
    },
    { maxPositionals: 0 },
  ),
);

export default defineCommand({
  meta: { name: "image", description: "build the guest image" },
  subCommands: { build },
});
