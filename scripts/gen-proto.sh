#!/usr/bin/env bash
# Regenerate src/shimv2/gen/ (TypeScript for the containerd shim v2 protocol)
# from the .proto files in src/shimv2/proto/. Needs Debian's protobuf-compiler
# (apt-get install protobuf-compiler) and the npm devDependency
# @bufbuild/protoc-gen-es. The generated code is committed: CI needs no protoc.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "gen-proto: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
plugin=node_modules/.bin/protoc-gen-es
[ -x "$plugin" ] || { echo "gen-proto: $plugin not found (npm install)" >&2; exit 1; }
wkt=/usr/include   # google/protobuf/*.proto from protobuf-compiler (libprotobuf-dev)
[ -f "$wkt/google/protobuf/any.proto" ] || { echo "gen-proto: $wkt/google/protobuf/any.proto not found" >&2; exit 1; }
out=src/shimv2/gen
rm -rf "$out"
mkdir -p "$out"
cd src/shimv2/proto
protoc -I . -I "$wkt" \
  --plugin=protoc-gen-es="../../../$plugin" \
  --es_out="../gen" --es_opt=target=ts,import_extension=ts \
  $(find . -name '*.proto' | sort)
echo "gen-proto: wrote $(find ../gen -name '*.ts' | wc -l) files to $out"
