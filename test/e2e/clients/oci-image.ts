import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * An OCI image archive built from the host's busybox-static, so client
 * tests need no registry: one layer (busybox + its applet links), a config
 * with PATH and `sh` (or `cmd`), index.json naming it `ref`.
 */
export function buildBusyboxImage(dir: string, ref: string, cmd: string[] = ["sh"]): string {
  const rootfs = join(dir, "rootfs");
  mkdirSync(join(rootfs, "bin"), { recursive: true });
  for (const d of ["proc", "sys", "dev", "tmp", "etc", "root"]) mkdirSync(join(rootfs, d), { recursive: true });
  Bun.spawnSync(["cp", "/bin/busybox", join(rootfs, "bin", "busybox")]);
  const applets = Bun.spawnSync(["/bin/busybox", "--list"])
    .stdout.toString()
    .split("\n")
    .filter((a) => a && a !== "busybox");
  for (const a of applets) Bun.spawnSync(["ln", "-sf", "busybox", join(rootfs, "bin", a)]);
  writeFileSync(join(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  writeFileSync(join(rootfs, "etc", "group"), "root:x:0:\n");

  const layout = join(dir, "layout");
  const blobs = join(layout, "blobs", "sha256");
  mkdirSync(blobs, { recursive: true });
  const layerTmp = join(dir, "layer.tar");
  const tar = Bun.spawnSync(["tar", "--numeric-owner", "--owner=0", "--group=0", "-C", rootfs, "-cf", layerTmp, "."]);
  if (tar.exitCode !== 0) throw new Error(`tar failed: ${tar.stderr.toString()}`);
  const layer = readFileSync(layerTmp);
  const blob = (data: Uint8Array) => {
    const digest = createHash("sha256").update(data).digest("hex");
    writeFileSync(join(blobs, digest), data);
    return { digest: `sha256:${digest}`, size: data.length };
  };
  const layerDigest = createHash("sha256").update(layer).digest("hex");
  renameSync(layerTmp, join(blobs, layerDigest));
  const config = blob(
    Buffer.from(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: cmd },
        rootfs: { type: "layers", diff_ids: [`sha256:${layerDigest}`] },
      }),
    ),
  );
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: `sha256:${layerDigest}`, size: layer.length }],
      }),
    ),
  );
  writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  writeFileSync(
    join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...manifest,
          annotations: { "io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref.split(":").pop() },
        },
      ],
    }),
  );
  const archive = join(dir, "image.tar");
  const out = Bun.spawnSync(["tar", "-C", layout, "-cf", archive, "oci-layout", "index.json", "blobs"]);
  if (out.exitCode !== 0) throw new Error(`tar failed: ${out.stderr.toString()}`);
  return archive;
}
