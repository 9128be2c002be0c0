import { describe, expect, test } from "bun:test";
import { NotFoundError, UnsupportedError } from "../../../src/host/errors.ts";
import { DEFAULT_GUEST_TYPES, planStorage, type PlanInput, type SourceKind } from "../../../plugins/storage/plan.ts";

function input(mounts: PlanInput["mounts"], kinds: Record<string, SourceKind> = {}): PlanInput {
  return {
    mounts,
    bundle: "/b",
    sandboxDir: "/run/husk/sandboxes/s1",
    containerId: "c1",
    guestShared: "/run/husk/shared",
    guestTypes: DEFAULT_GUEST_TYPES,
    kindOf: (p) => kinds[p] ?? "missing",
  };
}

describe("storage plan (pure)", () => {
  test("host binds go under shared/<cid>/mounts/<n>/<name>, the guest sees /run/husk/shared/<cid>/mounts/<n>/<name>", () => {
    const plan = planStorage(
      input(
        [
          { destination: "/proc", type: "proc", source: "proc" },
          { destination: "/data", type: "bind", source: "/srv/data", options: ["rbind", "ro"] },
          { destination: "/etc/hosts", source: "hosts", options: ["bind"] },
        ],
        { "/srv/data": "dir", "/b/hosts": "file" },
      ),
    );
    expect(plan.binds).toEqual([
      {
        index: 1,
        source: "/srv/data",
        target: "/run/husk/sandboxes/s1/shared/c1/mounts/1/data",
        kind: "dir",
        recursive: true,
        readonly: true,
      },
      {
        index: 2,
        source: "/b/hosts",
        target: "/run/husk/sandboxes/s1/shared/c1/mounts/2/hosts",
        kind: "file",
        recursive: false,
        readonly: false,
      },
    ]);
    expect(plan.mounts).toEqual([
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/data", type: "bind", source: "/run/husk/shared/c1/mounts/1/data", options: ["rbind", "ro"] },
      { destination: "/etc/hosts", type: "bind", source: "/run/husk/shared/c1/mounts/2/hosts", options: ["bind"] },
    ]);
  });

  test("virtual filesystems pass through to the guest unchanged", () => {
    const mounts = DEFAULT_GUEST_TYPES.map((type) => ({ destination: `/m/${type}`, type, source: type, options: ["nosuid"] }));
    const plan = planStorage(input(mounts));
    expect(plan.binds).toEqual([]);
    expect(plan.mounts).toEqual(mounts);
  });

  test("a Kubernetes emptyDir becomes a guest tmpfs (size from options)", () => {
    const src = "/var/lib/kubelet/pods/uid/volumes/kubernetes.io~empty-dir/cache";
    const plan = planStorage({
      ...input([{ destination: "/cache", type: "bind", source: src, options: ["rbind", "rprivate", "rw"] }], { [src]: "dir" }),
      emptyDirSizeMib: 64,
    });
    expect(plan.binds).toEqual([]);
    expect(plan.mounts).toEqual([{ destination: "/cache", type: "tmpfs", source: "tmpfs", options: ["rw", "size=64m"] }]);
  });

  test("refuses what it cannot honour, naming the field", () => {
    const cases: [PlanInput, string, string][] = [
      [input([{ destination: "/disk", type: "ext4", source: "/dev/sdb1" }]), "mounts[0].type", "virtio-blk"],
      [input([{ destination: "/x", type: "nfs", source: "srv:/x" }]), "mounts[0].type", 'type "nfs"'],
      [input([{ destination: "/dev/sda", type: "bind", source: "/dev/sda" }], { "/dev/sda": "block" }), "mounts[0].source", "is a block"],
      [input([{ destination: "/s", type: "bind", source: "/run/x.sock" }], { "/run/x.sock": "socket" }), "mounts[0].source", "is a socket"],
    ];
    for (const [i, field, text] of cases) {
      let err: unknown;
      try {
        planStorage(i);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UnsupportedError);
      expect((err as Error).message).toContain(field);
      expect((err as Error).message).toContain(text);
    }
    expect(() => planStorage(input([{ destination: "/gone", type: "bind", source: "/nope" }]))).toThrow(NotFoundError);
  });
});
