/**
 * Host look-ups for the image builder: Debian package versions, required
 * files and commands (each missing one is an ImageError naming the package
 * to install), ldd.
 */
import { existsSync } from "node:fs";
import { execa } from "execa";
import { ImageError } from "../host/errors.ts";
import { logger } from "../host/log.ts";
import { parseLdd, type LddResult } from "./ldd.ts";

const log = logger("image");

export function missingPackage(what: string, pkg: string): InstanceType<typeof ImageError> {
  return new ImageError(`${what} is missing on this host: install it with \`apt-get install -y ${pkg}\``, {
    details: { package: pkg },
  });
}

export function requireFile(path: string, pkg: string): string {
  if (!existsSync(path)) throw missingPackage(path, pkg);
  return path;
}

export function requireCommand(name: string, pkg: string): string {
  const path = Bun.which(name, { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` });
  if (!path) throw missingPackage(`the command ${name}`, pkg);
  return path;
}

/** Installed version of a Debian package, or undefined when not installed. */
export async function packageVersion(pkg: string): Promise<string | undefined> {
  const r = await execa("dpkg-query", ["-W", "-f=${db:Status-Status} ${Version}", pkg], { reject: false });
  log.debug(`dpkg-query ${pkg}: ${r.stdout}`);
  const m = /^installed (\S+)$/.exec(r.stdout.trim());
  return m ? m[1] : undefined;
}

export async function ldd(path: string): Promise<LddResult> {
  // ldd exits 1 for static executables; the output says so.
  const r = await execa("ldd", [path], { reject: false, all: true });
  log.debug(`ldd ${path} (exit ${r.exitCode})`);
  const result = parseLdd(r.all ?? "");
  if (result.missing.length > 0) {
    throw new ImageError(`${path} needs libraries this host lacks: ${result.missing.join(", ")}`);
  }
  if (!result.isStatic && result.paths.length === 0) {
    throw new ImageError(`cannot read the libraries of ${path} with ldd: ${r.all ?? ""}`.trim());
  }
  return result;
}
