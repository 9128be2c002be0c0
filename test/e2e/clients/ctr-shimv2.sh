#!/usr/bin/env bash
# containerd on a private root/state/socket, husk as its shim v2
# (io.containerd.husk.v2 → containerd-shim-husk-v2 on containerd's PATH).
# Run inside `unshare -m --propagation private` (snapshot mounts stay private).
#   ctr-shimv2.sh DIR HUSK IMAGE_TAR HUSK_ROOT   (HUSK_CONFIG in the environment points husk at its image and HUSK_ROOT)
set -euo pipefail
D=$1 HUSK=$2 TAR=$3 HROOT=$4
source "$(dirname "$0")/containerd-conf.sh"
write_containerd_conf "$D"
mkdir -p "$D/bin"
ln -sf "$HUSK" "$D/bin/containerd-shim-husk-v2"
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
# How the sandbox's VM came up (a clone of the VM template, or a cold boot).
echo "boot=$(find "$HROOT" -path '*/sandboxes/t2/vm-state.json' -exec grep -oE '"mode": ?"[a-z]*"' {} + | head -1 | sed -E 's/.*"([a-z]*)"$/\1/')"
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

echo "== stdin"
echo "piped-in" | "${C[@]}" run --rm "${R[@]}" "$REF" s1 sh -c 'read x; echo got=$x'

echo "== binary:// log"
mkdir -p "$D/binlog"
cat > "$D/logger.sh" <<'LOGGER'
#!/bin/sh
d=$2
echo "$CONTAINER_NAMESPACE/$CONTAINER_ID" > "$d/who"
exec 5>&-
cat <&3 > "$d/out" &
cat <&4 > "$d/err"
wait
LOGGER
chmod 755 "$D/logger.sh"
"${C[@]}" run --rm --log-uri "binary://$D/logger.sh?dir=$D/binlog" "${R[@]}" "$REF" bl1 sh -c 'echo to-out; echo to-err >&2'
for _ in $(seq 50); do [[ -s "$D/binlog/err" ]] && break; sleep 0.1; done
echo "binlog: who=$(cat "$D/binlog/who") out=$(cat "$D/binlog/out") err=$(cat "$D/binlog/err")"

echo "== tty"
set +e
script -qec "${C[*]} run --rm -t ${R[*]} $REF tt1 sh -c 'tty; exit 4'" /dev/null </dev/null | tr -d '\r\0'
echo "tty-exit=${PIPESTATUS[0]}"
set -e

echo "== metrics, pause, resume"
"${C[@]}" run -d "${R[@]}" "$REF" m1 sleep 1000 >/dev/null
"${C[@]}" task metrics m1 | awk '$1=="pids.current"||$1=="memory.usage"||$1=="cpu.usage_usec"{print "metric " $1 "=" $2}'
"${C[@]}" task pause m1
"${C[@]}" task ls | awk '$1=="m1"{print "m1-paused="$3}'
"${C[@]}" task resume m1
"${C[@]}" task ls | awk '$1=="m1"{print "m1-resumed="$3}'
"${C[@]}" task kill -s SIGKILL m1
for _ in $(seq 100); do [[ "$("${C[@]}" task ls | awk '$1=="m1"{print $3}')" == STOPPED ]] && break; sleep 0.2; done
"${C[@]}" task delete m1 >/dev/null
"${C[@]}" container delete m1

echo "== shim server killed"
"${C[@]}" run -d "${R[@]}" "$REF" k1 sleep 1000 >/dev/null
SHIM=$(pgrep -f -- "shim-v2 .*-id k1 .*serve" | head -1)
kill -9 "$SHIM"
for _ in $(seq 100); do [[ "$("${C[@]}" task ls | awk '$1=="k1"{print $3}')" != RUNNING ]] && break; sleep 0.2; done
st=$("${C[@]}" task ls | awk '$1=="k1"{print $3}')
echo "k1-after-kill=${st:-gone}"
"${C[@]}" task delete k1 >/dev/null 2>&1 || true
"${C[@]}" container delete k1

echo "== OOM"
"${C[@]}" run -d --memory-limit 41943040 "${R[@]}" "$REF" o1 sleep 1000 >/dev/null
set +e
"${C[@]}" task exec --exec-id hog o1 dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null
echo "hog-exit=$?"
set -e
for _ in $(seq 50); do grep -q '/tasks/oom {"container_id":"o1"}' "$D/events.txt" && break; sleep 0.1; done
"${C[@]}" task kill -s SIGKILL o1
for _ in $(seq 100); do [[ "$("${C[@]}" task ls | awk '$1=="o1"{print $3}')" == STOPPED ]] && break; sleep 0.2; done
"${C[@]}" task delete o1 >/dev/null
"${C[@]}" container delete o1

echo "== QEMU killed"
"${C[@]}" run -d "${R[@]}" "$REF" q1 sleep 1000 >/dev/null
QEMU=$(pgrep -f -- "qemu-system.*-name husk-q1 " | head -1)
kill -9 "$QEMU"
for _ in $(seq 150); do [[ "$("${C[@]}" task ls | awk '$1=="q1"{print $3}')" == STOPPED ]] && break; sleep 0.2; done
"${C[@]}" task ls | awk '$1=="q1"{print "q1-after-qemu-kill="$3}'
"${C[@]}" task delete q1 >/dev/null
"${C[@]}" container delete q1

echo "== containerd restarted"
"${C[@]}" run -d "${R[@]}" "$REF" r1 sleep 1000 >/dev/null
kill "$EPID" 2>/dev/null || true
kill "$CPID"; wait "$CPID" 2>/dev/null || true
PATH="$D/bin:$PATH" containerd --config "$D/containerd.toml" >>"$D/containerd.log" 2>&1 &
CPID=$!
for _ in $(seq 100); do "${C[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
"${C[@]}" events >>"$D/events.txt" 2>&1 &
EPID=$!
sleep 0.3
"${C[@]}" task ls | awk '$1=="r1"{print "r1-after-restart="$3}'
"${C[@]}" task exec --exec-id e2 r1 sh -c 'echo exec-after-restart'
"${C[@]}" task kill -s SIGKILL r1
for _ in $(seq 100); do [[ "$("${C[@]}" task ls | awk '$1=="r1"{print $3}')" == STOPPED ]] && break; sleep 0.2; done
"${C[@]}" task delete r1 >/dev/null
"${C[@]}" container delete r1
sleep 1
kill "$EPID" 2>/dev/null || true
EPID=
echo "mounts=$(grep -c -- "$D/" /proc/self/mountinfo || true)"
echo "== events"
cat "$D/events.txt"
echo "== end"
