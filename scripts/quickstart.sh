#!/usr/bin/env bash
# The main job on a fresh machine: set up (packages, npm, dist/husk, guest
# image), boot a sandbox VM, run a busybox container in it, print its output.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bundle="$(mktemp -d /tmp/husk-quickstart.XXXXXX)"
trap 'rm -rf "$bundle"' EXIT
bash scripts/make-bundle.sh "$bundle" sh -c 'echo "hello from husk: $(uname -sr) in a VM with $(nproc) vCPU"; cat /proc/cpuinfo | grep -m1 "model name"'
id="quickstart-$$"
echo "[quickstart] husk run $id (a VM boots: seconds under TCG)" >&2
./dist/husk run --bundle "$bundle" "$id"
