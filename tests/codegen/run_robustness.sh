#!/usr/bin/env bash
# Feeds protoc-gen-cplugin broken input and checks that it never crashes: it
# must exit 0 (a response, possibly carrying an error) or 1 (input rejected,
# message on stderr), never die from a signal or a sanitizer report. Inputs:
# garbage, an empty request, and real requests (captured from protoc) that are
# truncated or have one byte changed.
#
#   run_robustness.sh PLUGIN
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
plugin=${1:?usage: run_robustness.sh PLUGIN}
protoc=${PROTOC:-protoc}

# Sanitizer reports must not look like the plugin's own exit status 1.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:exitcode=87"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

runs=0
failures=0

# check NAME INPUT_FILE ALLOWED_STATUSES...
check() {
  local name=$1 input=$2 status=0
  shift 2
  runs=$((runs + 1))
  "$plugin" <"$input" >"$tmp/out" 2>"$tmp/err" || status=$?
  for allowed in "$@"; do
    if ((status == allowed)); then
      return 0
    fi
  done
  failures=$((failures + 1))
  echo "run_robustness.sh: $name: exit status $status" >&2
  head -n 20 "$tmp/err" >&2
}

# capture NAME PROTO_ROOT PROTOS...: the request protoc sends for PROTOS.
capture() {
  local name=$1 dir=$2
  shift 2
  printf '#!/bin/sh\ncat > "%s"\n' "$tmp/$name.req" >"$tmp/dump.sh"
  chmod +x "$tmp/dump.sh"
  "$protoc" -I"$dir" --plugin=protoc-gen-dump="$tmp/dump.sh" \
    --dump_out="$tmp" "$@"
}

# mutate IN OFFSET OUT: OUT is IN with the byte at OFFSET inverted.
mutate() {
  local byte
  byte=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  {
    head -c "$2" "$1"
    printf "\\$(printf '%03o' $((byte ^ 0xff)))"
    tail -c +"$(($2 + 2))" "$1"
  } >"$3"
}

printf 'this is not a protobuf message\xff\xff\xff' >"$tmp/garbage"
check garbage "$tmp/garbage" 1
if ! grep -q 'CodeGeneratorRequest' "$tmp/err"; then
  echo "run_robustness.sh: garbage: no explanation on stderr" >&2
  failures=$((failures + 1))
fi
: >"$tmp/empty"
check empty "$tmp/empty" 0

capture kv "$root/proto" kv/v1/kv.proto
mapfile -t test_protos < <(cd "$here/protos" && find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)
capture all "$here/protos" "${test_protos[@]}"
check kv "$tmp/kv.req" 0
check all "$tmp/all.req" 0

for name in kv all; do
  req=$tmp/$name.req
  size=$(wc -c <"$req")
  step=$((size / 150 + 1))
  for ((len = 1; len < size; len += step)); do
    head -c "$len" "$req" >"$tmp/case"
    check "$name truncated to $len bytes" "$tmp/case" 0 1
  done
  step=$((size / 400 + 1))
  for ((offset = 0; offset < size; offset += step)); do
    mutate "$req" "$offset" "$tmp/case"
    check "$name with byte $offset inverted" "$tmp/case" 0 1
  done
done

if ((failures > 0)); then
  echo "run_robustness.sh: $failures of $runs runs failed" >&2
  exit 1
fi
echo "run_robustness.sh: $runs runs, no crash"
