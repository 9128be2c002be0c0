# Sourced by ctr.sh and ctr-shimv2.sh: a private containerd (root, state,
# sockets under $1, no CRI plugin); writes $1/containerd.toml.
write_containerd_conf() {
  local d=$1
  mkdir -p "$d/croot" "$d/cstate"
  cat > "$d/containerd.toml" <<TOML
version = 2
root = "$d/croot"
state = "$d/cstate"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$d/c.sock"
[ttrpc]
  address = "$d/c.sock.ttrpc"
TOML
}
