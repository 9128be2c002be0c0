#!/usr/bin/env bash
# The whole test suite: sets up what it needs (packages incl. containerd and
# podman, npm deps, dist/husk, guest image), type-checks and lints, then runs
# bun test. Extra arguments go to bun test (e.g. a path filter).
set -uo pipefail
cd "$(dirname "$0")/.."
HUSK_SETUP_CLIENTS=1 bash scripts/setup.sh || exit 1
export PATH="$PWD/node_modules/.bin:$PATH"

# Static checks first (seconds); a failure is reported and counted, and the tests still run.
failed_checks=0
echo "[test] type check: tsc --noEmit -p ."
if ! tsc --noEmit -p .; then echo "[test] FAILED: type check"; failed_checks=$((failed_checks + 1)); fi
echo "[test] lint and format: biome ci ."
if ! biome ci . --reporter=summary; then echo "[test] FAILED: lint and format (bun run lint shows each problem, bun run format fixes the format)"; failed_checks=$((failed_checks + 1)); fi

bun test --timeout 300000 "$@"
status=$?
if [[ $failed_checks -gt 0 ]]; then
  echo "[test] ${failed_checks} static check(s) failed"
  [[ $status -eq 0 ]] && status=1
fi
exit "$status"
