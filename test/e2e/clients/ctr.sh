#!/usr/bin/env bash
# containerd on a private root/state/socket, husk as the runc binary.
# Run inside `unshare -m --propagation private` (snapshot mounts stay private).
#   ctr.sh DIR HUSK IMAGE_TAR   (HUSK_CONFIG in the environment points husk at its image)
set -euo pipefail
D=$1 HUSK=$2 TAR=$3
source "$(dirname "$0")/containerd-conf.sh"
write_containerd_conf "$D"
containerd --config "$D/containerd.toml" >"$D/containerd.log" 2>&1 &
CPID=$!
cleanup() { kill "$CPID" 2>/dev/null || true; wait "$CPID" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 100); do [[ -S "$D/c.sock" ]] && break; sleep 0.05; done
C=(ctr -a "$D/c.sock" -n husk-test)
"${C[@]}" images import "$TAR" >/dev/null
REF=docker.io/library/busybox:husk
R=(--runc-binary "$HUSK" --runc-root "$D/husk-root")

echo "== run"
set +e
"${C[@]}" run --rm "${R[@]}" "$REF" t1 sh -c 'echo hello from ctr; exit 3'
echo "exit=$?"
set -e

echo "== detached + exec + kill + delete"
"${C[@]}" run -d "${R[@]}" "$REF" t2 sleep 1000 >/dev/null
"${C[@]}" task exec --exec-id e1 t2 sh -c 'echo exec-ok'
# How the sandbox's VM came up (a clone of the VM template, or a cold boot).
echo "boot=$(find "$D/husk-root" -path '*/sandboxes/t2/vm-state.json' -exec grep -oE '"mode": ?"[a-z]*"' {} + | head -1 | sed -E 's/.*"([a-z]*)"$/\1/')"
"${C[@]}" task ps t2 | tail -n +2 | wc -l | sed 's/^/pids=/'
"${C[@]}" task kill -s SIGKILL t2
for _ in $(seq 200); do
  st=$("${C[@]}" task ls | awk '$1=="t2"{print $3}')
  [[ "$st" == STOPPED ]] && break; sleep 0.2
done
echo "t2=$st"
"${C[@]}" task delete t2 >/dev/null
"${C[@]}" container delete t2
echo "left=$(ls "$D/husk-root/sandboxes" 2>/dev/null | wc -l)"
