#!/usr/bin/env bash
# Checks that cpi_ct_equal runs the same instructions whatever the position of
# the first difference, without measuring time: callgrind counts the
# instructions (Ir) executed inside the function (--toggle-collect) while
# tests/crypto/ct_probe calls it on 32-byte buffers that first differ at
# byte 0, 1, 15 or 31, or are equal. All counts must be identical and at
# least one instruction per byte compared (so an empty count cannot pass).
# The same measurement of a deliberately early-exit loop (ct_probe
# --early-exit) must give different counts: proof that the check can fail.
#
#   run_ct_check.sh CT_PROBE [SKIP_EXIT_CODE]
#
# Exits 0 when both hold, 1 when not, SKIP_EXIT_CODE (default 77, ctest's
# SKIP_RETURN_CODE) when valgrind is not installed.
set -euo pipefail
probe=${1:?usage: run_ct_check.sh CT_PROBE [SKIP_EXIT_CODE]}
skip_code=${2:-77}
iterations=1000
bytes=32

if ! command -v valgrind >/dev/null 2>&1; then
  echo "SKIP: valgrind is not installed"
  exit "$skip_code"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# count FUNCTION PROBE_ARGS...: Ir collected inside FUNCTION.
count() {
  local fn=$1
  shift
  local out="$work/callgrind.out"
  rm -f "$out"
  if ! valgrind --tool=callgrind --callgrind-out-file="$out" \
    --toggle-collect="$fn" "$probe" "$@" "$iterations" \
    >"$work/stdout" 2>"$work/stderr"; then
    echo "FAIL: valgrind $probe $* failed:" >&2
    cat "$work/stderr" >&2
    exit 1
  fi
  local ir
  ir=$(awk '$1 == "totals:" || $1 == "summary:" { v = $2 } END { print v }' "$out")
  if [[ ! "$ir" =~ ^[0-9]+$ ]]; then
    echo "FAIL: no instruction count in callgrind output for $fn $*" >&2
    exit 1
  fi
  echo "$ir"
}

positions=(0 1 15 31 equal)
min_ir=$((iterations * bytes))

check() {
  local fn=$1
  shift
  declare -gA ir=()
  for p in "${positions[@]}"; do
    ir[$p]=$(count "$fn" "$@" "$p")
    printf '%-18s first difference at %-5s Ir = %s\n' "$fn" "$p" "${ir[$p]}"
  done
}

check cpi_ct_equal
status=0
for p in "${positions[@]}"; do
  if ((ir[$p] < min_ir)); then
    echo "FAIL: cpi_ct_equal ran ${ir[$p]} instructions for $iterations x $bytes bytes" \
      "(at least $min_ir expected): the count does not cover the function" >&2
    status=1
  fi
  if [[ "${ir[$p]}" != "${ir[0]}" ]]; then
    echo "FAIL: cpi_ct_equal's instruction count depends on the data" \
      "(position $p: ${ir[$p]}, position 0: ${ir[0]})" >&2
    status=1
  fi
done

# The control: an early-exit loop must be caught by the same measurement.
check early_exit_equal --early-exit
if [[ "${ir[0]}" == "${ir[31]}" || "${ir[0]}" == "${ir[equal]}" ]]; then
  echo "FAIL: the early-exit comparison gave equal counts; the check cannot" \
    "tell constant-time code from early-exit code" >&2
  status=1
fi

if ((status == 0)); then
  echo "ct check: cpi_ct_equal is data-independent; early exit detected"
fi
exit "$status"
