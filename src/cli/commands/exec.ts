import { defineCommand, parseArgs } from "citty";
import { enterContainer, fetchSandbox } from "../../core/api.ts";
import { UsageError } from "../../host/errors.ts";
import { cliRuntime } from "../lib/runtime.ts";
import { checkExecCgroups, execProcess, readProcessFile } from "../lib/exec-process.ts";
import { checkFlags, repeated, strict } from "../lib/flags.ts";
import { relaySignalsTo } from "../lib/foreground.ts";
import { consoleSocketArg, ioPaths, pidFileArg } from "../lib/io-args.ts";
import { checkPreserveFds } from "../lib/preserve-fds.ts";
import { checkTerminalIo } from "../../runtime/operations.ts";
import { containerById } from "../../runtime/lookup.ts";

const execArgs = {
  "console-socket": consoleSocketArg,
  cwd: { type: "string", description: "working directory in the container" },
  env: { type: "string", alias: "e", description: "set an environment variable (repeatable)" },
  tty: { type: "boolean", alias: "t", description: "allocate a pseudo-TTY" },
  user: { type: "string", alias: "u", description: "uid[:gid] (numbers)" },
  "additional-gids": { type: "string", alias: "g", description: "additional gid (repeatable)" },
  process: { type: "string", alias: "p", description: "path to a process.json (overrides the command line)" },
  detach: { type: "boolean", alias: "d", description: "do not wait for the process to exit" },
  "pid-file": pidFileArg,
  cap: { type: "string", alias: "c", description: "add a capability (repeatable)" },
  "no-new-privs": { type: "boolean", description: "set no_new_privs" },
  "process-label": { type: "string", description: "accepted for runc compatibility (no SELinux in the guest)" },
  apparmor: { type: "string", description: "accepted for runc compatibility (no AppArmor in the guest)" },
  cgroup: { type: "string", description: 'only the container\'s own cgroup ("/"): the process joins it in the guest (repeatable)' },
  "ignore-paused": { type: "boolean", description: "accepted for runc compatibility" },
  "preserve-fds": { type: "string", description: "only 0 is supported (no fds cross into the VM)" },
} as const;

export default defineCommand(
  strict(
    {
      meta: { name: "exec", description: "run a new process in a created or running container: exec [flags] ID COMMAND [ARGS...]" },
      args: execArgs,
      async run({ rawArgs }) {
        // Flags end at the container id: what follows is the command's, -c and -t included.
        const split = checkFlags(rawArgs, execArgs, true);
        const [id, ...command] = split.tail;
        if (!id) throw new UsageError("exec needs a container id");
        const args = parseArgs<typeof execArgs>(split.flags, execArgs);
        checkPreserveFds(args["preserve-fds"]);
        checkExecCgroups(repeated(split.flags, ["cgroup"]));
        const { ctx } = await cliRuntime();
        const { sid } = await containerById(ctx, id);
        const process_ = args.process
          ? readProcessFile(args.process)
          : execProcess((await fetchSandbox(ctx, sid)).containers.find((c) => c.record.id === id)!.record.spec, {
              args: command,
              tty: args.tty === true,
              ...(args.cwd ? { cwd: args.cwd } : {}),
              env: repeated(split.flags, ["env", "e"]),
              ...(args.user ? { user: args.user } : {}),
              additionalGids: repeated(split.flags, ["additional-gids", "g"]),
              caps: repeated(split.flags, ["cap", "c"]),
              noNewPrivs: args["no-new-privs"] === true,
            });
        const io = { ...ioPaths(args), terminal: process_.terminal === true, detach: args.detach === true };
        checkTerminalIo(io);
        const r = await enterContainer(ctx, sid, id, { process: process_, io });
        if (!r.exited) return;
        const unrelay = relaySignalsTo(r.pid);
        process.exitCode = await r.exited;
        unrelay();
      },
    },
    { stopAtPositional: true },
  ),
);
