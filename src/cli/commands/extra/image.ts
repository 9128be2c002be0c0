import { defineCommand } from "citty";
import { DEFAULT_IMAGE_DIR } from "../../../config/schema.ts";
import { UsageError } from "../../../host/errors.ts";
import { exportImage, importImage } from "../../../image/archive.ts";
import { buildImage } from "../../../image/build.ts";
import { strict } from "../../lib/flags.ts";
import { formatArg, outputFormat, printJson } from "../../lib/output.ts";

const KERNELS = ["auto", "minimal", "debian"] as const;

const build = defineCommand(
  strict(
    {
      meta: { name: "build", description: "build the guest kernel and initramfs from the host's Debian packages" },
      args: {
        output: {
          type: "string",
          alias: "o",
          description: "output directory (default /var/lib/husk/image); another directory builds without installing",
        },
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

const dirArg = { type: "string", description: `image directory (default ${DEFAULT_IMAGE_DIR})` } as const;

const exportCmd = defineCommand(
  strict(
    {
      meta: {
        name: "export",
        description: "write the built guest image (kernel, initramfs, agent, manifest) as one zstd-compressed archive",
      },
      args: {
        file: { type: "positional", description: "archive to write (FILE.tar.zst)", required: true },
        dir: dirArg,
        format: formatArg,
      },
      async run({ args }) {
        const format = outputFormat(args.format);
        const r = await exportImage(args.dir ?? DEFAULT_IMAGE_DIR, args.file);
        if (format === "json") printJson(r);
        else
          console.log(
            `wrote ${r.file} (${(r.size / 1048576).toFixed(1)} MiB, sha256 ${r.sha256}): husk ${r.husk.version} (${r.husk.commit}), kernel ${r.kernel}`,
          );
      },
    },
    { maxPositionals: 1 },
  ),
);

const importCmd = defineCommand(
  strict(
    {
      meta: {
        name: "import",
        description: "verify an archive from `husk image export` (every hash, the husk version) and install it atomically",
      },
      args: { file: { type: "positional", description: "archive to import", required: true }, dir: dirArg, format: formatArg },
      async run({ args }) {
        const format = outputFormat(args.format);
        const r = await importImage(args.file, args.dir ?? DEFAULT_IMAGE_DIR);
        const m = r.manifest;
        if (format === "json") printJson({ dir: r.dir, previous: r.previous ?? null, husk: m.husk, kernel: m.kernel, origin: m.origin });
        else
          console.log(
            `installed ${args.file} into ${r.dir}: husk ${m.husk.version} (${m.husk.commit}), kernel ${m.kernel.kind} ${m.kernel.version}${r.previous ? `; the previous image is at ${r.previous}` : ""}`,
          );
      },
    },
    { maxPositionals: 1 },
  ),
);

export default defineCommand({
  meta: { name: "image", description: "build, export and import the guest image" },
  subCommands: { build, export: exportCmd, import: importCmd },
});
