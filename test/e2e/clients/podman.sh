#!/usr/bin/env bash
# podman (through conmon) with husk as its runtime, on private storage.
# Run inside `unshare -m --propagation private`.
#   podman.sh DIR HUSK ROOTFS_TAR   (HUSK_CONFIG in the environment points husk at its image)
set -euo pipefail
D=$1 HUSK=$2 TAR=$3
# Small ulimits: the default 1048576 cannot be set without CAP_SYS_RESOURCE.
cat > "$D/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$D/events.log"
CONF
export CONTAINERS_CONF="$D/containers.conf"
# conmon does not pass podman's environment to the runtime: a wrapper carries HUSK_CONFIG.
cat > "$D/husk-runtime" <<WRAP
#!/bin/sh
HUSK_CONFIG='$HUSK_CONFIG' exec '$HUSK' "\$@"
WRAP
chmod +x "$D/husk-runtime"
P=(podman --root "$D/proot" --runroot "$D/prun" --storage-driver vfs --runtime "$D/husk-runtime" --tmpdir "$D/ptmp")
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
