/**
 * What goes into the initramfs (pure): from the host files found by
 * initramfs.ts to a sorted list of cpio entries and where each file's bytes
 * come from. Separate from the effects so the layout is unit-tested.
 */
import { type CpioEntry, sortEntries } from "./cpio.ts";

/** Bytes of a file in the archive: a host file, or text generated here. */
export type FileSource = { hostPath: string } | { text: string };

export interface HostFile {
  /** Host path to read (symlinks already resolved by the caller or not: content is what counts). */
  source: string;
  /** Absolute path inside the guest. */
  dest: string;
  mode: number;
  size: number;
}

export interface InitramfsInputs {
  init: string;
  busybox: HostFile;
  /** Applet paths as `busybox --list-full` prints them ("bin/sh", "sbin/switch_root"). */
  applets: string[];
  /** Executables (crun), libraries and the dynamic loader, kernel modules. */
  files: HostFile[];
  /** Kernel modules in load order, as guest paths (fallback kernel only). */
  moduleOrder: string[];
}

export interface InitramfsPlan {
  entries: CpioEntry[];
  sources: Map<string, FileSource>;
}

export const PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
export const GROUP = "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n";
/** Read by /init to insmod the fallback kernel's modules, one guest path a line. */
export const MODULE_ORDER_PATH = "etc/husk/modules";

/** Mount points and empty directories the init expects. */
const DIRS = ["dev", "proc", "sys", "run", "tmp", "root", "husk", "mnt", "var", "etc", "newroot"];

const rel = (p: string) => p.replace(/^\/+/, "");

export function planInitramfs(inputs: InitramfsInputs): InitramfsPlan {
  const entries = new Map<string, CpioEntry>();
  const sources = new Map<string, FileSource>();

  const addDirs = (path: string) => {
    const parts = rel(path).split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (!entries.has(dir)) entries.set(dir, { kind: "dir", path: dir, mode: 0o755 });
    }
  };
  const addFile = (dest: string, mode: number, size: number, source: FileSource) => {
    const path = rel(dest);
    addDirs(path);
    entries.set(path, { kind: "file", path, mode, size });
    sources.set(path, source);
  };
  const addText = (dest: string, mode: number, text: string) => addFile(dest, mode, Buffer.byteLength(text), { text });

  for (const d of DIRS) entries.set(d, { kind: "dir", path: d, mode: 0o755 });
  entries.set("tmp", { kind: "dir", path: "tmp", mode: 0o1777 });
  entries.set("root", { kind: "dir", path: "root", mode: 0o700 });
  // The kernel opens /dev/console for init's stdio before devtmpfs is mounted.
  entries.set("dev/console", { kind: "char", path: "dev/console", mode: 0o600, major: 5, minor: 1 });
  entries.set("dev/null", { kind: "char", path: "dev/null", mode: 0o666, major: 1, minor: 3 });

  addText("/init", 0o755, inputs.init);
  addText("/etc/passwd", 0o644, PASSWD);
  addText("/etc/group", 0o644, GROUP);
  addFile(inputs.busybox.dest, inputs.busybox.mode, inputs.busybox.size, { hostPath: inputs.busybox.source });

  for (const f of inputs.files) addFile(f.dest, f.mode, f.size, { hostPath: f.source });
  if (inputs.moduleOrder.length > 0) addText(MODULE_ORDER_PATH, 0o644, inputs.moduleOrder.map((m) => `${m}\n`).join(""));

  const busyboxPath = `/${rel(inputs.busybox.dest)}`;
  for (const applet of inputs.applets) {
    const path = rel(applet);
    if (!path || entries.has(path)) continue; // a real file (or busybox itself) wins over an applet link
    addDirs(path);
    entries.set(path, { kind: "symlink", path, target: busyboxPath });
  }
  return { entries: sortEntries([...entries.values()]), sources };
}
