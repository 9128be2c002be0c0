#!/usr/bin/env bash
# Set up a fresh Debian 12 host for husk (root, Node and npm present):
# Debian packages, npm dependencies (Bun comes from npm), dist/husk, and the
# guest image (minimal kernel built once per machine, cached).
# Idempotent: every step is skipped when already done.
#   HUSK_SETUP_SKIP_IMAGE=1   do not build the guest image (nor the VM template)
#   HUSK_SETUP_SKIP_TEMPLATE=1  do not make the first VM template
#   HUSK_SETUP_CLIENTS=1      also install containerd and podman (client tests)
set -euo pipefail
cd "$(dirname "$0")/.."

# Bold only on a terminal (and not with NO_COLOR): a piped or logged setup stays plain.
if [[ -t 2 && -z "${NO_COLOR:-}" && "${TERM:-dumb}" != dumb ]]; then
  log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
else
  log() { printf '[setup] %s\n' "$*" >&2; }
fi

# Packages the runtime, the image builder and the tests need.
PACKAGES=(
  qemu-system-x86 qemu-utils            # the hypervisor
  linux-source-6.1                      # our minimal guest kernel is built from it
  linux-image-amd64                     # fallback guest kernel
  busybox-static crun                   # inside the guest image
  iproute2 util-linux procps kmod cpio lz4 xz-utils
  build-essential flex bison bc libelf-dev libssl-dev   # kernel build
  git ca-certificates
)
CLIENT_PACKAGES=(containerd runc podman conmon crun catatonit uidmap fuse-overlayfs slirp4netns)

want=("${PACKAGES[@]}")
if [[ "${HUSK_SETUP_CLIENTS:-0}" == 1 ]]; then want+=("${CLIENT_PACKAGES[@]}"); fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x node_modules/.bin/bun ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  log "installing npm dependencies (Bun comes from npm)"
  npm ci --no-audit --no-fund --loglevel=error
fi
export PATH="$PWD/node_modules/.bin:$PATH"

log "building dist/husk"
bun run build.ts

if [[ "${HUSK_SETUP_SKIP_IMAGE:-0}" != 1 ]]; then
  log "building the guest image (the first build compiles a kernel: about 8-15 minutes on 2 cores)"
  ./dist/husk image build
  # The first VM template (src/factory/), so that sandboxes start as clones
  # from the first one on: a few seconds; /dev/shm is emptied at reboot and
  # the next create makes it again in the background.
  if [[ "${HUSK_SETUP_SKIP_TEMPLATE:-0}" != 1 ]]; then
    log "making the VM template sandboxes are cloned from"
    ./dist/husk factory init >/dev/null || log "no template made (sandboxes boot cold until one is)"
  fi
fi
log "done: $(./dist/husk --version)"
