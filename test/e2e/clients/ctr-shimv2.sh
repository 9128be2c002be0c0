#!/usr/bin/env bash
# containerd on a private root/state/socket, husk as its shim v2
# (io.containerd.husk.v2 → containerd-shim-husk-v2 on containerd's PATH).
# Run inside `unshare -m --propagation private` (snapshot mounts stay private).
#   ctr-shimv2.sh DIR HUSK IMAGE_TAR   (HUSK_CONFIG in the environment points husk at its image and root)
set -euo pipefail
D=$1 HUSK=$2 TAR=$3
mkdir -p "$D/croot" "$D/cstate" "$D/bin"
ln -sf "$HUSK" "$D/bin/containerd-shim-husk-v2"
cat > "$D/containerd.toml" <<TOML
version = 2
root = "$D/croot"
state = "$D/cstate"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$D/c.sock"
[ttrpc]
  address = "$D/c.sock.ttrpc"
TOML
PATH="$D/bin:$PATH" containerd --config "$D/containerd.toml" >"$D/containerd.log" 2>&1 &
CPID=$!
EPID=
cleanup() {
  [[ -n "$EPID" ]] && kill "$EPID" 2>/dev/null || true
  kill "$CPID" 2>/dev/null || true
  wait "$CPID" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do [[ -S "$D/c.sock" ]] && break; sleep 0.05; done
C=(ctr -a "$D/c.sock" -n husk-test)
"${C[@]}" images import "$TAR" >/dev/null
REF=docker.io/library/busybox:husk
R=(--runtime io.containerd.husk.v2)

"${C[@]}" events >"$D/events.txt" 2>&1 &
EPID=$!
sleep 0.3

echo "== run"
set +e
"${C[@]}" run --rm "${R[@]}" "$REF" t1 sh -c 'echo hello from shim v2; exit 3'
echo "exit=$?"
set -e

echo "== detached + exec + kill + delete"
"${C[@]}" run -d "${R[@]}" "$REF" t2 sleep 1000 >/dev/null
"${C[@]}" task exec --exec-id e1 t2 sh -c 'echo exec-ok; exit 5' && echo "exec-exit=0" || echo "exec-exit=$?"
"${C[@]}" task ps t2 | tail -n +2 | wc -l | sed 's/^/pids=/'
"${C[@]}" task ls | awk '$1=="t2"{print "t2-before="$3}'
"${C[@]}" task kill -s SIGKILL t2
for _ in $(seq 200); do
  st=$("${C[@]}" task ls | awk '$1=="t2"{print $3}')
  [[ "$st" == STOPPED ]] && break; sleep 0.2
done
echo "t2=$st"
"${C[@]}" task delete t2 >/dev/null
"${C[@]}" container delete t2
sleep 1
kill "$EPID" 2>/dev/null || true
EPID=
echo "mounts=$(grep -c -- "$D/" /proc/self/mountinfo || true)"
echo "== events"
cat "$D/events.txt"
echo "== end"
