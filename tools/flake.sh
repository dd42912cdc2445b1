#!/usr/bin/env bash
# Runs the end-to-end and concurrency suites many times while a CPU hog keeps
# every core busy, to find tests that depend on timing.
#
#   tools/flake.sh [-n N] [--valgrind-runs M] [--no-bazel] [--no-valgrind]
#                  [--no-load] [--build-dir DIR]
#
#   -n N               Bazel runs of each suite (--runs_per_test), default 20
#   --valgrind-runs M  runs of each valgrind ctest suite, default N
#   --no-bazel         skip the Bazel part
#   --no-valgrind      skip the valgrind ctest part
#   --no-load          no CPU hog (to tell load-induced failures apart)
#   --build-dir DIR    CMake build tree for the valgrind suites
#                      (default build/flake, configured and built if needed)
#
# Prints every failing test with its log and exits 1 when anything failed, 2
# on a usage error. The hog runs at normal priority, one busy loop per core,
# and is stopped on every exit path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

runs=20
valgrind_runs=
do_bazel=1
do_valgrind=1
load=1
build=$root/build/flake
while (($#)); do
  case $1 in
    -n) runs=${2:-}; shift 2 || usage ;;
    --valgrind-runs) valgrind_runs=${2:-}; shift 2 || usage ;;
    --no-bazel) do_bazel=0; shift ;;
    --no-valgrind) do_valgrind=0; shift ;;
    --no-load) load=0; shift ;;
    --build-dir) build=${2:-}; shift 2 || usage ;;
    -h | --help) usage ;;
    *) echo "flake: unknown argument '$1'" >&2; usage ;;
  esac
done
valgrind_runs=${valgrind_runs:-$runs}
for v in "$runs" "$valgrind_runs"; do
  if ! [[ $v =~ ^[0-9]+$ ]] || ((v < 1 || v > 1000)); then
    echo "flake: run counts are whole numbers from 1 to 1000" >&2
    exit 2
  fi
done

# Suites where threads or processes meet: servers and clients, streams,
# watches, post hooks, sweepers, child processes.
bazel_targets=(
  //tests:transport_test //tests:forward_test //tests:client_async_test
  //tests:kv_e2e_test //tests:host_test //tests:host_chain_test
  //tests:router_test //tests:registry_store_test //tests:registry_test
  //tests:health_test //tests:lifecycle_test //tests:tokens_test
  //tests:ratelimit_test //tests:metrics_standard_test
  //tests:metrics_http_test //tests:python_interop_test
  //tests:python_health_test //tests:python_router_test
  //tests:python_limits_test //tests:prometheus_scrape_test
  //tests:python_resilience_test //tests:process_test
  //tests:supervisor_test //tests:launch_e2e_test
  //tests:launch_identity_test //tests:launcher_e2e_test //tests:admin_test
  //tests:connection_test //tests:broker_test //tests:launcher_inprocess_test
  //tests:python_capability_test
  //tests:etcd_mirror_test //tests:replica_identities_test
  //tests:replica_registry_test //tests:python_replicas_test
  //tests:python_replica_registry_test //tests:redis_shared_limits_test
  //tests:python_mixed_languages_test
  //examples/replicas:replicas_demo //examples/mixed-languages:mixed_languages_demo
  //examples/urlshortener:urlshortener_managed_demo
  //examples/urlshortener:urlshortener_demo //examples/kv:kv_demo
  //tools/cpluginctl:cli_sh //tools/cpluginctl:presets_sh
)
valgrind_suites=(
  transport_test forward_test client_async_test tokens_test ratelimit_test
  registry_store_test registry_test health_test lifecycle_test
  metrics_standard_test metrics_http_test process_test
)

hog_pids=()
stop_hog() {
  if ((${#hog_pids[@]})); then
    kill "${hog_pids[@]}" 2>/dev/null || true
    wait "${hog_pids[@]}" 2>/dev/null || true
    hog_pids=()
  fi
}
trap stop_hog EXIT
trap 'exit 130' INT TERM

start_hog() {
  ((load)) || return 0
  local i
  for ((i = 0; i < $(nproc); i++)); do
    bash -c 'while :; do :; done' &
    hog_pids+=($!)
  done
  echo "flake: CPU hog on $(nproc) cores (pids ${hog_pids[*]})"
}

failed=()

run_bazel() {
  echo "flake: bazel, ${#bazel_targets[@]} suites x $runs runs"
  # Built before the hog starts: the hog is for the tests, not the compiler.
  bazel build "${bazel_targets[@]}"
  start_hog
  local out
  out=$(mktemp)
  set +e
  bazel test --runs_per_test="$runs" --test_output=errors \
    --nocache_test_results "${bazel_targets[@]}" 2>&1 | tee "$out"
  local rc=${PIPESTATUS[0]}
  set -e
  stop_hog
  local t
  while read -r t; do
    failed+=("bazel $t")
  done < <(grep -E '^//[^ ]+ +(FAILED|TIMEOUT|FLAKY|NO STATUS|INCOMPLETE)' "$out" | awk '{print $1}')
  if ((rc != 0 && ${#failed[@]} == 0)); then
    failed+=("bazel exited $rc")
  fi
  rm -f "$out"
}

run_valgrind() {
  echo "flake: valgrind, ${#valgrind_suites[@]} suites x $valgrind_runs runs"
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j"$(nproc)" --target "${valgrind_suites[@]}" \
    >/dev/null
  local regex
  regex="^($(
    IFS='|'
    echo "${valgrind_suites[*]}"
  ))_valgrind\$"
  start_hog
  local out
  out=$(mktemp)
  set +e
  (cd "$build" && ctest -R "$regex" -j2 --output-on-failure \
    --repeat until-fail:"$valgrind_runs") 2>&1 | tee "$out"
  local rc=${PIPESTATUS[0]}
  set -e
  stop_hog
  local t
  while read -r t; do
    failed+=("valgrind $t")
  done < <(sed -nE 's/^[[:space:]]*[0-9]+ - ([^ ]+) \(.*/\1/p' "$out")
  if ((rc != 0 && ${#failed[@]} == 0)); then
    failed+=("ctest exited $rc")
  fi
  rm -f "$out"
}

((do_bazel)) && run_bazel
((do_valgrind)) && run_valgrind

echo
if ((${#failed[@]})); then
  echo "flake: FAILED (logs above):"
  printf '  %s\n' "${failed[@]}"
  exit 1
fi
echo "flake: every run passed (bazel x$runs$( ((do_bazel)) || echo ' skipped'), valgrind x$valgrind_runs$( ((do_valgrind)) || echo ' skipped'), load $( ((load)) && echo on || echo off))"
