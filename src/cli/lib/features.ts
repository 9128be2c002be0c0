import { CAPABILITIES, HOOK_PHASES, NAMESPACE_TYPES, OCI_VERSION } from "../../oci/spec.ts";
import { COMMIT, VERSION } from "../../host/version.ts";

/**
 * `husk features` (runtime-spec features.md): what a config.json may ask of
 * husk. The container runs under crun inside the guest, so namespaces, mount
 * options, capabilities and seccomp are the guest's; cgroups are the guest's
 * cgroup v2, with no systemd driver.
 */

const MOUNT_OPTIONS = [
  "acl",
  "async",
  "atime",
  "bind",
  "defaults",
  "dev",
  "diratime",
  "dirsync",
  "exec",
  "iversion",
  "lazytime",
  "loud",
  "mand",
  "noacl",
  "noatime",
  "nodev",
  "nodiratime",
  "noexec",
  "noiversion",
  "nolazytime",
  "nomand",
  "norelatime",
  "nostrictatime",
  "nosuid",
  "nosymfollow",
  "private",
  "ratime",
  "rbind",
  "rdev",
  "rdiratime",
  "relatime",
  "remount",
  "rexec",
  "rnoatime",
  "rnodev",
  "rnodiratime",
  "rnoexec",
  "rnorelatime",
  "rnostrictatime",
  "rnosuid",
  "rnosymfollow",
  "ro",
  "rprivate",
  "rrelatime",
  "rro",
  "rrw",
  "rshared",
  "rslave",
  "rstrictatime",
  "rsuid",
  "rsymfollow",
  "runbindable",
  "rw",
  "shared",
  "silent",
  "slave",
  "strictatime",
  "suid",
  "symfollow",
  "sync",
  "tmpcopyup",
  "unbindable",
];

export function features(): Record<string, unknown> {
  return {
    ociVersionMin: "1.0.0",
    ociVersionMax: OCI_VERSION,
    hooks: [...HOOK_PHASES],
    mountOptions: MOUNT_OPTIONS,
    linux: {
      namespaces: [...NAMESPACE_TYPES].filter((n) => n !== "time").sort(),
      capabilities: [...CAPABILITIES],
      cgroup: { v1: false, v2: true, systemd: false, systemdUser: false },
      seccomp: { enabled: true },
      apparmor: { enabled: false },
      selinux: { enabled: false },
    },
    annotations: {
      "io.husk.version": VERSION,
      "io.husk.commit": COMMIT,
      "io.husk.isolation": "vm",
      "io.husk.pod.annotations":
        "io.kubernetes.cri.container-type,io.kubernetes.cri.sandbox-id,io.kubernetes.cri-o.ContainerType,io.kubernetes.cri-o.SandboxID",
    },
  };
}
