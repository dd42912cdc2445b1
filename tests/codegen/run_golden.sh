#!/usr/bin/env bash
# Golden test of protoc-gen-cplugin: runs protoc once over every .proto under
# protos/ (several files per run) and compares the output with golden/. Also
# runs it a second time and requires byte-identical output.
#
#   run_golden.sh [--update] PLUGIN
#
# --update rewrites golden/ from the current output instead of comparing.
# PLUGIN is the protoc-gen-cplugin executable (or a wrapper, see
# valgrind_plugin.sh). $PROTOC overrides the protoc binary.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
update=0
if [[ ${1:-} == --update ]]; then
  update=1
  shift
fi
plugin=${1:?usage: run_golden.sh [--update] PLUGIN}
plugin=$(cd "$(dirname "$plugin")" && pwd)/$(basename "$plugin")
protoc=${PROTOC:-protoc}
# A version with pre-release and build parts, to exercise the parameter.
version=2.1.0-rc.1+build.5

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mapfile -t protos < <(cd "$here/protos" && find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)

generate() {
  mkdir -p "$1"
  "$protoc" -I"$here/protos" --plugin=protoc-gen-cplugin="$plugin" \
    --cplugin_out="$1" --cplugin_opt=version="$version" "${protos[@]}"
}

generate "$tmp/first"
generate "$tmp/second"
if ! diff -r "$tmp/first" "$tmp/second" >&2; then
  echo "run_golden.sh: two runs gave different output" >&2
  exit 1
fi

if ((update)); then
  rm -rf "$here/golden"
  cp -R "$tmp/first" "$here/golden"
  echo "run_golden.sh: golden/ updated ($(find "$here/golden" -type f | wc -l) files)"
  exit 0
fi

if ! diff -ru "$here/golden" "$tmp/first" >&2; then
  echo "run_golden.sh: output differs from golden/ (-golden +actual);" \
       "if the change is intended, run: $0 --update PLUGIN" >&2
  exit 1
fi
echo "run_golden.sh: ${#protos[@]} protos, output matches golden/"
