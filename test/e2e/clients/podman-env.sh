# Sourced by podman*.sh: private containers.conf, a runtime wrapper, and P=(podman ...) on private storage in $D.
# Needs D, HUSK and HUSK_CONFIG.
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
