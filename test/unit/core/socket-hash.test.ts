import { expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { socketPath } from "../../../src/host/sockets.ts";

// Every process of every husk build (CLI, monitor, shim, a running QEMU's confinement) must find the same socket.
test("a moved socket's directory is the first 24 hex digits of the sha256 of the sandbox directory", () => {
  const dir = `/run/containerd/runc/k8s.io/sandboxes/${"a".repeat(64)}`;
  const hash = createHash("sha256").update(dir).digest("hex").slice(0, 24);
  expect(socketPath(dir, "monitor.sock")).toBe(`/run/containerd/runc/k8s.io/sockets/${hash}/monitor.sock`);
});
