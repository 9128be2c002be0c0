import { defineCommand } from "citty";
import { VERSION } from "../host/version.ts";
import { GLOBAL_FLAGS } from "./globals.ts";

/**
 * The root command: runc's global flags (./globals.ts parses them early; shown
 * here for --help) and the subcommands, loaded lazily so that a short-lived
 * `husk state` does not load the image builder.
 */
export const rootCommand = defineCommand({
  meta: { name: "husk", version: VERSION, description: "OCI runtime that runs each container or pod in its own QEMU virtual machine" },
  args: GLOBAL_FLAGS,
  subCommands: {
    create: () => import("./commands/create.ts").then((m) => m.default),
    start: () => import("./commands/start.ts").then((m) => m.default),
    state: () => import("./commands/state.ts").then((m) => m.default),
    kill: () => import("./commands/kill.ts").then((m) => m.default),
    delete: () => import("./commands/delete.ts").then((m) => m.default),
    run: () => import("./commands/run.ts").then((m) => m.default),
    exec: () => import("./commands/exec.ts").then((m) => m.default),
    ps: () => import("./commands/ps.ts").then((m) => m.default),
    pause: () => import("./commands/pause.ts").then((m) => m.default),
    resume: () => import("./commands/resume.ts").then((m) => m.default),
    list: () => import("./commands/list.ts").then((m) => m.default),
    events: () => import("./commands/events.ts").then((m) => m.default),
    update: () => import("./commands/update.ts").then((m) => m.default),
    spec: () => import("./commands/spec.ts").then((m) => m.default),
    features: () => import("./commands/features.ts").then((m) => m.default),
    version: () => import("./commands/extra/version.ts").then((m) => m.default),
    check: () => import("./commands/extra/check.ts").then((m) => m.default),
    env: () => import("./commands/extra/env.ts").then((m) => m.default),
    config: () => import("./commands/extra/config.ts").then((m) => m.default),
    image: () => import("./commands/extra/image.ts").then((m) => m.default),
    "debug-console": () => import("./commands/extra/debug-console.ts").then((m) => m.default),
    factory: () => import("./commands/extra/factory.ts").then((m) => m.default),
    plugins: () => import("./commands/extra/plugins.ts").then((m) => m.default),
    monitor: () => import("./commands/internal/monitor.ts").then((m) => m.default),
    shim: () => import("./commands/internal/shim.ts").then((m) => m.default),
    "shim-v2": () => import("./commands/internal/shimv2.ts").then((m) => m.default),
    agent: () => import("./commands/internal/agent.ts").then((m) => m.default),
  },
});
