#!/usr/bin/env bash
# Make an OCI bundle whose rootfs is Debian's busybox-static:
#   scripts/make-bundle.sh DIR [ARGS...]   (default args: sh -c 'echo hello from husk')
# config.json comes from `husk spec`, with process.args replaced and no terminal.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dir="$1"; shift || true
[[ -x /bin/busybox ]] || { echo "make-bundle: busybox-static is not installed (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$dir/rootfs/bin" "$dir/rootfs/proc" "$dir/rootfs/sys" "$dir/rootfs/dev" "$dir/rootfs/tmp" "$dir/rootfs/etc"
cp /bin/busybox "$dir/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do [[ $applet == busybox ]] || ln -sf busybox "$dir/rootfs/bin/$applet"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$dir/rootfs/etc/passwd"
echo "root:x:0:" > "$dir/rootfs/etc/group"
rm -f "$dir/config.json"
(cd "$dir" && "$here/dist/husk" spec)
if (($# == 0)); then set -- sh -c 'echo hello from husk'; fi
args_json=$("$here/node_modules/.bin/bun" -e 'console.log(JSON.stringify(process.argv.slice(1)))' -- "$@")
"$here/node_modules/.bin/bun" -e '
  const [file, args] = [process.argv[1], JSON.parse(process.argv[2])];
  const spec = JSON.parse(require("fs").readFileSync(file, "utf8"));
  spec.process.args = args; spec.process.terminal = false;
  require("fs").writeFileSync(file, JSON.stringify(spec, null, 2));
' -- "$dir/config.json" "$args_json"
