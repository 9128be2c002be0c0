#!/usr/bin/env bash
# podman (through conmon) with husk as its runtime, on private storage.
# Run inside `unshare -m --propagation private`.
#   podman.sh DIR HUSK ROOTFS_TAR   (HUSK_CONFIG in the environment points husk at its image)
set -euo pipefail
D=$1 HUSK=$2 TAR=$3
source "$(dirname "$0")/podman-env.sh"
"${P[@]}" import --change CMD=sh "$TAR" localhost/bb:husk >/dev/null

echo "== run --rm"
set +e
"${P[@]}" run --rm --network none localhost/bb:husk sh -c 'echo hello from podman; exit 4'
echo "exit=$?"
set -e

echo "== run -d + exec + stop + rm"
"${P[@]}" run -d --name w --network none localhost/bb:husk sleep 1000 >/dev/null
"${P[@]}" exec w sh -c 'echo exec-ok'
"${P[@]}" stop -t 2 w >/dev/null
echo "w=$("${P[@]}" inspect --format '{{.State.Status}}' w)"
"${P[@]}" rm w >/dev/null
echo "containers=$("${P[@]}" ps -aq | wc -l)"
