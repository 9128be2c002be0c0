import { defineCommand } from "citty";
import { VERSION } from "../host/version.ts";

/**
 * The root command: runc's global flags (parsed early by ./globals.ts, listed
 * here for --help) and the subcommands, loaded lazily so that a short-lived
 * `husk state` does not load the image builder.
 */
export const rootCommand = defineCommand({
  meta: { name: "husk", version: VERSION, description: "OCI runtime that runs each container or pod in its own QEMU virtual machine" },
  args: {
    root: { type: "string", description: "root directory for state (default /run/husk)" },
    log: { type: "string", description: "write logs to this file (default stderr)" },
    "log-format": { type: "string", description: "log format: text or json" },
    debug: { type: "boolean", description: "enable debug logging" },
    "systemd-cgroup": { type: "boolean", description: "accepted for runc compatibility (cgroups live in the guest)" },
    rootless: { type: "string", description: "accepted for runc compatibility (true|false|auto)" },
    config: { type: "string", description: "husk configuration file (default /etc/husk/config.toml)" },
    plugin: { type: "string", description: "load a TypeScript plugin (repeatable)" },
    version: { type: "boolean", alias: "v", description: "print the version" },
  },
  subCommands: {
    create: () => import("./create.ts").then((m) => m.default),
    start: () => import("./start.ts").then((m) => m.default),
    state: () => import("./state.ts").then((m) => m.default),
    kill: () => import("./kill.ts").then((m) => m.default),
    delete: () => import("./delete.ts").then((m) => m.default),
    run: () => import("./run.ts").then((m) => m.default),
    exec: () => import("./exec.ts").then((m) => m.default),
    ps: () => import("./ps.ts").then((m) => m.default),
    pause: () => import("./pause.ts").then((m) => m.default),
    resume: () => import("./resume.ts").then((m) => m.default),
    list: () => import("./list.ts").then((m) => m.default),
    events: () => import("./events.ts").then((m) => m.default),
    update: () => import("./update.ts").then((m) => m.default),
    spec: () => import("./spec.ts").then((m) => m.default),
    features: () => import("./features.ts").then((m) => m.default),
    version: () => import("./version.ts").then((m) => m.default),
    check: () => import("./check.ts").then((m) => m.default),
    env: () => import("./env.ts").then((m) => m.default),
    config: () => import("./config.ts").then((m) => m.default),
    image: () => import("./image.ts").then((m) => m.default),
    "debug-console": () => import("./debug-console.ts").then((m) => m.default),
    factory: () => import("./factory.ts").then((m) => m.default),
    plugins: () => import("./plugins.ts").then((m) => m.default),
    monitor: () => import("./monitor.ts").then((m) => m.default),
    shim: () => import("./shim.ts").then((m) => m.default),
    "shim-v2": () => import("./shimv2.ts").then((m) => m.default),
    agent: () => import("./agent.ts").then((m) => m.default),
  },
});
