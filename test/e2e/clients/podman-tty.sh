#!/usr/bin/env bash
# `podman run -it` with husk, at the terminal this script is given (after podman.sh imported the image into DIR).
# Run inside `unshare -m --propagation private`.
#   podman-tty.sh DIR HUSK
set -euo pipefail
D=$1 HUSK=$2
source "$(dirname "$0")/podman-env.sh"
exec "${P[@]}" run -it --rm --network none localhost/bb:husk sh
