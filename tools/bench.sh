#!/usr/bin/env bash
# Runs every benchmark in tests/bench (Google Benchmark) in an optimised
# build and writes the JSON results and ONE Markdown report of the medians:
#
#   tools/bench.sh [--quick] [--bin-dir DIR] [--out DIR] [FILTER]
#
#   FILTER        a --benchmark_filter regex (default: every benchmark). The
#                 matching results replace their earlier ones in the JSON
#                 files; the others are kept, and the report covers all of
#                 them (delete the results folder for a clean slate).
#   --quick       each benchmark once, briefly (--benchmark_min_time=0.01,
#                 one repetition): proves they run, measures nothing. Results
#                 go to build/bench/results-quick unless --out says otherwise.
#   --bin-dir DIR use the benchmark binaries already built in DIR (the CMake
#                 build's tests/ folder) instead of configuring and building
#                 build/bench (Release); installs nothing.
#   --out DIR     where the results go (default build/bench/results).
#
# Without --quick: three repetitions, medians reported. Output:
#   <out>/<name>.json   Google Benchmark's JSON, one file per binary, every
#                       entry stamped with its run (date, load average, the
#                       cplugin commit)
#   <out>/table.md      the machine and the last invocation, then the tables
#                       (bench_table.py): time per operation and M ops/s per
#                       benchmark and thread count (1/2/4/8), memory per
#                       token/bucket/registration/plugin, the scalability
#                       table (1 000 / 10 000 / 100 000), and the runs each
#                       figure comes from
# ctest's bench_smoke runs `tools/bench.sh --quick --bin-dir ...`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

quick=0
bin_dir=
out=
filter=.
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --bin-dir)
      bin_dir=$(cd "$2" && pwd)
      shift
      ;;
    --out)
      out=$2
      shift
      ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "bench.sh: unknown option $1 (see --help)" >&2
      exit 2
      ;;
    *) filter=$1 ;;
  esac
  shift
done

build=${CPLUGIN_BENCH_DIR:-$root/build/bench}
if [[ -z "$out" ]]; then
  out=$build/results
  [[ $quick == 1 ]] && out=$build/results-quick
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

benches=()
for src in tests/bench/*_bench.cc; do
  benches+=("$(basename "$src" .cc)")
done

# What the binaries measure (the tree they are built from), for provenance.
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git status --porcelain -- runtime 2>/dev/null)" ]]; then
  commit="$commit+runtime changes"
fi

if [[ -z "$bin_dir" ]]; then
  bash tools/install-deps.sh
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"$(nproc)" --target "${benches[@]}" >/dev/null
  bin_dir=$build/tests
fi

if [[ $quick == 1 ]]; then
  run_flags=(--benchmark_min_time=0.01 --benchmark_repetitions=1)
else
  run_flags=(--benchmark_repetitions=3 --benchmark_report_aggregates_only=true)
fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
ran=()
for b in "${benches[@]}"; do
  bin=$bin_dir/$b
  if [[ ! -x "$bin" ]]; then
    echo "bench.sh: $bin is missing (build it first)" >&2
    exit 1
  fi
  # A binary none of whose benchmarks match the filter is skipped.
  if [[ -z "$("$bin" --benchmark_list_tests --benchmark_filter="$filter" 2>/dev/null)" ]]; then
    continue
  fi
  echo "=== $b"
  "$bin" --benchmark_filter="$filter" "${run_flags[@]}" \
    --benchmark_out="$out/$b.new.json" --benchmark_out_format=json
  python3 tools/bench_table.py --stamp "$out/$b.new.json" "$commit"
  if [[ -f "$out/$b.json" && "$filter" != . ]]; then
    python3 tools/bench_table.py --merge "$out/$b.json" "$out/$b.new.json" \
      >"$out/$b.merged.json"
    mv "$out/$b.merged.json" "$out/$b.json"
    rm "$out/$b.new.json"
  else
    mv "$out/$b.new.json" "$out/$b.json"
  fi
  ran+=("$b")
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ ${#ran[@]} == 0 ]]; then
  echo "bench.sh: no benchmark matches '$filter'" >&2
  exit 1
fi

{
  echo "# Benchmarks"
  echo
  if [[ $quick == 1 ]]; then
    echo "**Quick run** (min time 0.01 s, one repetition): not a measurement."
    echo
  fi
  echo "- $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "- $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo)," \
    "kernel $(uname -r)"
  echo "- last invocation $(date -u '+%Y-%m-%d %H:%M UTC'): cplugin $commit," \
    "binaries ${ran[*]}, filter '$filter'; load average (1, 5, 15 min)" \
    "before $load_before, after $load_after"
  echo
  python3 tools/bench_table.py "$out"/*_bench.json
} >"$out/table.md"
cat "$out/table.md"
echo "bench.sh: results in $out"
