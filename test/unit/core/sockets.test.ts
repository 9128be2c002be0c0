import { describe, expect, test } from "bun:test";
import { SHORT_SOCKET_DIR } from "../../../src/host/layout.ts";
import { socketPath } from "../../../src/host/sockets.ts";

describe("socketPath", () => {
  test("a short sandbox dir keeps its sockets inside it", () => {
    expect(socketPath("/run/husk/sandboxes/abc", "monitor.sock")).toBe("/run/husk/sandboxes/abc/monitor.sock");
  });

  test("containerd's root with a 64-character pod id: under the root's sockets/ dir, within sun_path", () => {
    const dir = `/run/containerd/runc/k8s.io/sandboxes/${"a".repeat(64)}`;
    const p = socketPath(dir, "monitor.sock");
    expect(p.startsWith("/run/containerd/runc/k8s.io/sockets/")).toBe(true);
    expect(p.endsWith("/monitor.sock")).toBe(true);
    // A directory of the sandbox's own: a confined QEMU is shown it, and no other sandbox's sockets.
    expect(socketPath(dir, "qmp.sock").split("/").slice(0, -1)).toEqual(p.split("/").slice(0, -1));
    expect(socketPath(`${dir}b`, "qmp.sock").split("/").slice(0, -1)).not.toEqual(p.split("/").slice(0, -1));
    expect(Buffer.byteLength(p)).toBeLessThanOrEqual(107);
  });

  test("a root too long even for that: the fixed short dir", () => {
    const dir = `/${"r".repeat(80)}/sandboxes/${"a".repeat(64)}`;
    const p = socketPath(dir, "monitor.sock");
    expect(p.startsWith(`${SHORT_SOCKET_DIR}/`)).toBe(true);
    expect(Buffer.byteLength(p)).toBeLessThanOrEqual(107);
  });

  test("stable per sandbox dir and distinct between sandboxes and socket names", () => {
    const a = `/very/long/${"x".repeat(100)}/a`;
    const b = `/very/long/${"x".repeat(100)}/b`;
    expect(socketPath(a, "qmp.sock")).toBe(socketPath(a, "qmp.sock"));
    expect(socketPath(a, "qmp.sock")).not.toBe(socketPath(b, "qmp.sock"));
    expect(socketPath(a, "qmp.sock")).not.toBe(socketPath(a, "agent.sock"));
  });
});
