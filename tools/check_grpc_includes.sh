#!/usr/bin/env bash
# Fails when a file outside runtime/src/transport includes a gRPC header:
# the gRPC C core API is not stable between releases, so it stays behind one
# module. Generated protobuf-c code and tools that drive gRPC's C++ reference
# server are not project runtime code and are listed as exceptions.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"
offenders=$(grep -rlE '#[[:space:]]*include[[:space:]]*<grpc(\+\+|pp)?/' \
  --include='*.c' --include='*.h' --include='*.cc' --include='*.cpp' \
  runtime codegen gen examples tests tools 2>/dev/null |
  grep -v '^runtime/src/transport/' |
  grep -v '^tests/tools/fixtures/' |
  # tools/compare/: the gRPC C++ reference server (<grpcpp/...>) that
  # tools/compare.sh measures cplugin against. It is a peer to compare with,
  # built on gRPC C++ on purpose, and no part of libcplugin or its API.
  grep -v '^tools/compare/' || true)
if [[ -n "$offenders" ]]; then
  echo "gRPC headers included outside runtime/src/transport:" >&2
  echo "$offenders" >&2
  exit 1
fi
count=$(grep -rlE '#[[:space:]]*include[[:space:]]*<grpc/' runtime/src/transport | wc -l)
if [[ "$count" -eq 0 ]]; then
  echo "no gRPC include found in runtime/src/transport: wrong tree?" >&2
  exit 1
fi
echo "gRPC headers only in runtime/src/transport ($count files)"
