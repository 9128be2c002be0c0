import type { RuntimeContext } from "../ports.ts";
import { moveContainer, moveSandbox, withVm, type LoadedSandbox } from "../loaded.ts";
import { guardSandbox } from "../status.ts";

/** Pause and resume the whole VM; its containers follow. */

export async function pauseSandboxIn(ctx: RuntimeContext, sb: LoadedSandbox): Promise<void> {
  guardSandbox(sb.record.id, sb.current.state, "pause");
  await withVm(ctx, sb, (vm) => vm.pause());
  for (const c of sb.containers) if (c.current.state === "running") moveContainer(ctx.root, sb.record.id, c, "paused");
  moveSandbox(ctx.root, sb, "paused");
}

export async function resumeSandboxIn(ctx: RuntimeContext, sb: LoadedSandbox): Promise<void> {
  guardSandbox(sb.record.id, sb.current.state, "resume");
  await withVm(ctx, sb, (vm) => vm.resume());
  for (const c of sb.containers) if (c.current.state === "paused") moveContainer(ctx.root, sb.record.id, c, "running");
  moveSandbox(ctx.root, sb, "running");
}
