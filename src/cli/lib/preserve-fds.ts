import { UnsupportedError, UsageError } from "../../host/errors.ts";

/** --preserve-fds N: file descriptors cannot cross into a VM, so only 0 is honoured. */
export function checkPreserveFds(value: string | undefined): void {
  if (value === undefined) return;
  if (!/^\d+$/.test(value)) throw new UsageError(`invalid --preserve-fds ${JSON.stringify(value)}`);
  if (Number(value) > 0) throw new UnsupportedError("--preserve-fds: extra file descriptors cannot be passed into the VM");
}
