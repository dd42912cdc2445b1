#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang, ASan + UBSan) and runs
# each from its checked-in seed corpus.
#
#   tools/fuzz.sh [--runs N | --time SECONDS] [--jobs J] [TARGET...]
#
#   --runs N       executions per target (default 20000: a smoke run)
#   --time S       seconds per target instead of a count
#   TARGET...      some targets only (default: every fuzz_* target)
#
# New inputs a run finds go to build/fuzz/corpus/<target> (the checked-in
# seeds in tests/fuzz/corpus are only read). A crash, leak or sanitizer
# report stops that target; the script prints every failed target, with the
# reproducer libFuzzer wrote, and exits 1 (2 on a usage error). Per target it
# prints one line: executions, seconds, and executions per second.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

runs=20000
secs=
targets=()
while (($#)); do
  case $1 in
    --runs) runs=${2:-}; secs=; shift 2 || exit 2 ;;
    --time) secs=${2:-}; shift 2 || exit 2 ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --*) echo "fuzz: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
for v in "$runs" "${secs:-1}"; do
  if ! [[ $v =~ ^[0-9]+$ ]] || ((v < 1)); then
    echo "fuzz: --runs and --time take a positive whole number" >&2
    exit 2
  fi
done

build=$root/build/fuzz
CC=clang CXX=clang++ cmake -S tests/fuzz -B "$build" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')
fi

failed=()
for t in "${targets[@]}"; do
  bin=$build/$t
  if [[ ! -x $bin ]]; then
    echo "fuzz: no target $t" >&2
    exit 2
  fi
  corpus=$build/corpus/$t
  artifacts=$build/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  log=$build/$t.log
  limit=(-runs="$runs")
  [[ -n $secs ]] && limit=(-max_total_time="$secs")
  start=$(date +%s.%N)
  if "$bin" "${limit[@]}" -artifact_prefix="$artifacts/" \
    "$corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
  fi
  end=$(date +%s.%N)
  execs=$(grep -oE '^#[0-9]+' "$log" | tail -n1 | tr -d '#')
  execs=${execs:-0}
  awk -v t="$t" -v st="$status" -v n="$execs" -v a="$start" -v b="$end" \
    'BEGIN { d = b - a; printf "%-24s %-6s %12d execs %8.1f s %12.0f execs/s\n",
             t, st, n, d, (d > 0 ? n / d : 0) }'
  if [[ $status != ok ]]; then
    tail -n 40 "$log"
    ls "$artifacts" | sed "s|^|  reproducer: $artifacts/|"
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: every target ran clean"
