import { create, toBinary } from "@bufbuild/protobuf";
import { AnySchema, type Any } from "@bufbuild/protobuf/wkt";
import type { ContainerStats } from "../core/api.ts";
import { MetricsSchema } from "./gen/containerd/cgroups/metrics_pb.ts";

/**
 * The guest's cgroup v2 numbers for a container as containerd's
 * io.containerd.cgroups.v2.Metrics (what `ctr task metrics` and the CRI's
 * ContainerStats decode). Bare type name in the Any, as containerd's typeurl
 * registry names it. Unlimited is reported as 0, as containerd does for "max".
 */
export function statsToMetrics(s: ContainerStats): Any {
  const m = create(MetricsSchema, {
    pids: { current: BigInt(s.pids.current), limit: BigInt(s.pids.limit ?? 0) },
    cpu: { usageUsec: BigInt(s.cpu.usageUsec), userUsec: BigInt(s.cpu.userUsec), systemUsec: BigInt(s.cpu.systemUsec) },
    memory: { usage: BigInt(s.memory.usageBytes), usageLimit: BigInt(s.memory.limitBytes ?? 0) },
  });
  return create(AnySchema, { typeUrl: MetricsSchema.typeName, value: toBinary(MetricsSchema, m) });
}
