#!/usr/bin/env bash
# Bazel's compare_smoke_test: tools/compare.sh --quick with the binaries Bazel
# built. Arguments: compare.sh, cpluginctl, ref_server (runfiles paths). The
# exit status is compare.sh's: 0 only when every measurement passed its
# grpc-status check. No timing assertions.
set -euo pipefail
compare_sh=$1 cpluginctl=$2 ref_server=$3
out=${TEST_UNDECLARED_OUTPUTS_DIR:-${TEST_TMPDIR:-/tmp}}/compare
exec bash "$compare_sh" --quick --cpluginctl "$cpluginctl" \
  --ref-server "$ref_server" --out "$out"
