import { defineCommand } from "citty";
import { Publisher } from "../../../shimv2/events.ts";
import { parseShimArgs } from "../../../shimv2/flags.ts";
import { shimDelete, shimServe, shimStart } from "../../../shimv2/main.ts";
import { TaskService } from "../../../shimv2/service.ts";
import { huskCommand } from "../../../host/self.ts";
import { cliRuntime } from "../../lib/runtime.ts";
import { globals, globalsToArgv } from "../../globals.ts";
import { cliConfig } from "../../lib/config.ts";

/**
 * Hidden: containerd's shim v2 (`io.containerd.husk.v2`). containerd runs
 * this executable as `containerd-shim-husk-v2` (main.ts maps that name to
 * `husk shim-v2`) with Go-style flags:
 *   -namespace N -address A -publish-binary B -id ID [-bundle B] [-debug] start|delete
 */
export default defineCommand({
  meta: { name: "shim-v2", description: "containerd shim v2 io.containerd.husk.v2 (internal)", hidden: true },
  async run({ rawArgs }) {
    const args = parseShimArgs(rawArgs);
    if (args.version) {
      const { versionText } = await import("../../lib/version.ts");
      console.log(versionText());
      return;
    }
    // containerd runs start and delete in the bundle directory.
    const bundle = args.bundle ?? process.cwd();
    if (args.action === "start") {
      const g = globals();
      const address = await shimStart({
        args,
        root: cliConfig().runtime.root,
        self: [...huskCommand(), ...globalsToArgv({ ...g, log: undefined, debug: false })],
        bundle,
      });
      // A short-lived action: exit once written (the server it spawned lives on by itself).
      await new Promise<void>((resolve) => process.stdout.write(address, () => resolve()));
      process.exit(0);
    }
    if (args.action === "delete") {
      const { ctx } = await cliRuntime({ tolerateBrokenPlugins: true });
      const bytes = await shimDelete({ args, ctx, bundle });
      await new Promise<void>((resolve) => process.stdout.write(bytes, () => resolve()));
      process.exit(0);
    }
    let service: TaskService | undefined;
    const { ctx, launcher } = await cliRuntime({ stdioFor: (r) => service?.stdioFor(r) });
    const publisher = new Publisher(process.env.TTRPC_ADDRESS ?? `${args.address.replace(/^unix:\/\//, "")}.ttrpc`, args.namespace);
    let stop!: () => void;
    const shutdown = new Promise<void>((r) => (stop = r));
    service = new TaskService({
      ctx,
      namespace: args.namespace,
      events: publisher,
      exitedOf: (pid) => launcher.exited(pid),
      onShutdown: () => stop(),
    });
    await shimServe({ args, service, publisher, shutdown });
  },
});
