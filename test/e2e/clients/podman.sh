#!/usr/bin/env bash
# podman (through conmon) with husk as its runtime, on private storage.
# Run inside `unshare -m --propagation private`.
#   podman.sh DIR HUSK ROOTFS_TAR [PORT]   (HUSK_CONFIG in the environment points husk at its image)
# With PORT: a run on podman's default (CNI bridge) network fetches from the host's PORT via the gateway.
set -euo pipefail
D=$1 HUSK=$2 TAR=$3 PORT=${4:-}
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
# How the sandbox's VM came up (a clone of the VM template, or a cold boot).
# conmon runs husk without --root: its root is the config's (runtime.root).
root=$(sed -n 's/^root = "\(.*\)"$/\1/p' "$HUSK_CONFIG")
echo "boot=$(find "${root:-/run/husk}" -path '*/sandboxes/*/vm-state.json' -exec grep -oE '"mode": ?"[a-z]*"' {} + | head -1 | sed -E 's/.*"([a-z]*)"$/\1/')"
"${P[@]}" stop -t 2 w >/dev/null
echo "w=$("${P[@]}" inspect --format '{{.State.Status}}' w)"
"${P[@]}" rm w >/dev/null
echo "containers=$("${P[@]}" ps -aq | wc -l)"

if [[ -n "$PORT" ]]; then
  echo "== run on the default bridge network"
  # The pod network podman made (veth on cni-podman0) is connected to the VM: the gateway is the host.
  "${P[@]}" run --rm --network bridge localhost/bb:husk sh -c \
    'ip -o -4 addr show eth0 | grep -q "inet 10\." && echo guest-has-address; gw=$(ip route | awk "/^default/ {print \$3}"); printf "GET / HTTP/1.0\r\n\r\n" | nc -w 30 "$gw" '"$PORT"' | tail -1'
fi
