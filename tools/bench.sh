#!/usr/bin/env bash
# Runs every micro-benchmark (Google Benchmark) in an optimised build, three
# repetitions each, and writes the JSON results and a Markdown table of the
# medians:
#   tools/bench.sh [FILTER]      (FILTER: a --benchmark_filter regex)
# Output: build/bench/results/<name>.json and build/bench/results/table.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash tools/install-deps.sh
build=${CPLUGIN_BENCH_DIR:-$root/build/bench}
out=$build/results
filter=${1:-.}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
benches=()
for src in tests/bench/*_bench.cc; do
  benches+=("$(basename "$src" .cc)")
done
cmake --build "$build" -j"$(nproc)" --target "${benches[@]}" >/dev/null
mkdir -p "$out"
{
  echo "# machine"
  echo "- $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "- $(grep MemTotal /proc/meminfo | awk '{printf "%.0f GiB RAM", $2/1048576}')"
  echo "- kernel $(uname -r), $(date -u +%Y-%m-%d)"
} >"$out/machine.md"
for b in "${benches[@]}"; do
  echo "=== $b"
  "$build/tests/$b" --benchmark_filter="$filter" \
    --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    --benchmark_out="$out/$b.json" --benchmark_out_format=json
done
python3 tools/bench_table.py "$out"/*_bench.json >"$out/table.md"
cat "$out/machine.md" "$out/table.md"
