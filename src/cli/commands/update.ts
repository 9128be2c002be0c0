import { defineCommand } from "citty";
import { updateContainer } from "../../core/api.ts";
import { UsageError } from "../../host/errors.ts";
import { cliRuntime } from "../lib/runtime.ts";
import { strict } from "../lib/flags.ts";
import { updateResources } from "../lib/resources.ts";
import { containerById } from "../../runtime/lookup.ts";

const s = (description: string) => ({ type: "string", description }) as const;

export default defineCommand(
  strict(
    {
      meta: { name: "update", description: "change a container's resource limits (those the guest's cgroups honour)" },
      args: {
        id: { type: "positional", description: "container id", required: true },
        resources: { type: "string", alias: "r", description: "JSON file of OCI linux.resources ('-' for stdin)" },
        memory: s("memory limit (e.g. 512m)"),
        "memory-reservation": s("memory soft limit"),
        "memory-swap": s("memory + swap limit"),
        "kernel-memory": s("refused: no kernel memory accounting in the guest"),
        "kernel-memory-tcp": s("refused"),
        "cpu-shares": s("CPU shares (relative weight)"),
        "cpu-quota": s("CPU CFS quota (microseconds)"),
        "cpu-period": s("CPU CFS period (microseconds)"),
        "cpu-rt-period": s("refused: no real-time scheduling groups in the guest"),
        "cpu-rt-runtime": s("refused"),
        "cpuset-cpus": s("guest CPUs allowed (e.g. 0-1)"),
        "cpuset-mems": s("guest memory nodes allowed"),
        "pids-limit": s("maximum number of processes"),
        "blkio-weight": s("refused: no block I/O weight in the guest"),
        "l3-cache-schema": s("refused: no Intel RDT in the guest"),
        "mem-bw-schema": s("refused: no Intel RDT in the guest"),
      },
      async run({ args }) {
        const resources = updateResources(args);
        if (Object.keys(resources).length === 0) throw new UsageError("update: nothing to change (give a flag or --resources)");
        const { ctx } = await cliRuntime();
        const { sid } = await containerById(ctx, args.id);
        await updateContainer(ctx, sid, args.id, resources);
      },
    },
    { maxPositionals: 1 },
  ),
);
