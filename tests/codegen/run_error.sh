#!/usr/bin/env bash
# Expects protoc with protoc-gen-cplugin to fail with a message containing
# EXPECTED.
#
#   run_error.sh PLUGIN EXPECTED IMPORT_DIR PROTOC_ARGS...
set -euo pipefail

plugin=${1:?usage: run_error.sh PLUGIN EXPECTED IMPORT_DIR PROTOC_ARGS...}
expected=${2:?}
import_dir=${3:?}
shift 3
protoc=${PROTOC:-protoc}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

status=0
"$protoc" -I"$import_dir" --plugin=protoc-gen-cplugin="$plugin" \
  --cplugin_out="$tmp" "$@" 2>"$tmp/stderr" || status=$?
if ((status == 0)); then
  echo "run_error.sh: protoc succeeded; expected an error with: $expected" >&2
  exit 1
fi
if ! grep -qF -- "$expected" "$tmp/stderr"; then
  echo "run_error.sh: expected an error with: $expected" >&2
  echo "run_error.sh: got:" >&2
  cat "$tmp/stderr" >&2
  exit 1
fi
if [[ -n $(find "$tmp" -name '*.cplugin.*') ]]; then
  echo "run_error.sh: files were written despite the error" >&2
  exit 1
fi
echo "run_error.sh: failed as expected: $(head -n 1 "$tmp/stderr")"
