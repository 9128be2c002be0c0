#!/usr/bin/env bash
# The whole test suite: sets up what it needs (packages incl. containerd and
# podman, npm deps, dist/husk, guest image), then runs bun test.
# Extra arguments go to bun test (e.g. a path filter).
set -euo pipefail
cd "$(dirname "$0")/.."
HUSK_SETUP_CLIENTS=1 bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
exec bun test --timeout 300000 "$@"
