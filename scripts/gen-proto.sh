#!/usr/bin/env bash
# Regenerate src/shimv2/gen/ (TypeScript for the containerd shim v2 protocol)
# from src/shimv2/proto/, and test/e2e/cri/gen/ (the CRI subset the tests use). Needs Debian's protobuf-compiler
# (apt-get install protobuf-compiler) and the npm devDependency
# @bufbuild/protoc-gen-es. The generated code is committed: CI needs no protoc.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "gen-proto: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
plugin=node_modules/.bin/protoc-gen-es
[ -x "$plugin" ] || { echo "gen-proto: $plugin not found (npm install)" >&2; exit 1; }
wkt=/usr/include   # google/protobuf/*.proto from protobuf-compiler (libprotobuf-dev)
[ -f "$wkt/google/protobuf/any.proto" ] || { echo "gen-proto: $wkt/google/protobuf/any.proto not found" >&2; exit 1; }
root=$PWD
# src/shimv2: the shim's protocol; test/e2e/cri: the part of the CRI the tests drive.
for dir in src/shimv2 test/e2e/cri; do
  rm -rf "$dir/gen"
  mkdir -p "$dir/gen"
  (cd "$dir/proto" && protoc -I . -I "$wkt" \
    --plugin=protoc-gen-es="$root/$plugin" \
    --es_out=../gen --es_opt=target=ts,import_extension=ts \
    $(find . -name '*.proto' | sort))
  echo "gen-proto: wrote $(find "$dir/gen" -name '*.ts' | wc -l) files to $dir/gen"
done
