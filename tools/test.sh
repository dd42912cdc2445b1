#!/usr/bin/env bash
# The whole test suite: installs what is missing, then runs the static checks,
# Bazel (build + test, then again under ASan+UBSan), the Bazel consumer
# example, and CMake + ctest last (its summary line closes the output).
#   tools/test.sh            everything (what CI runs, .ci/run)
#   tools/test.sh --quick    everyday tier: install, static checks and lint,
#                            one CMake build + ctest (valgrind included);
#                            no Bazel, flake runs, sanitizers or fuzzing
set -euo pipefail
quick=false
case "${1:-}" in
  --quick) quick=true ;;
  "") ;;
  *)
    echo "usage: tools/test.sh [--quick]" >&2
    exit 2
    ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CONNECTPLUGIN_DISABLE_TLS_WARNING=1

step() { printf '\n=== %s ===\n' "$*"; }

step "install dependencies"
bash tools/install-deps.sh

step "static checks"
bash tools/check_grpc_includes.sh
bash tools/check_format.sh
python3 tools/check_source_lists.py "$root"
python3 tools/check_config_doc.py runtime/include/cplugin docs/configuration.md
promtool check rules docs/alerts.yml
bash tools/lint.sh "$root/build/lint"

if ! $quick; then
  step "bazel build + test"
  bazel build //...
  bazel test //...

  step "flake check: the end-to-end and concurrency suites 3 times under load"
  bash tools/flake.sh -n 3 --no-valgrind

  step "bazel test under ASan+UBSan"
  bazel test --config=asan //...

  step "fuzz targets, briefly (tools/fuzz.sh: libFuzzer, ASan+UBSan)"
  bash tools/fuzz.sh --runs 20000

  step "bazel consumer workspace (examples/bazel-consumer)"
  bash examples/bazel-consumer/run.sh
  bash examples/bazel-consumer/run_bare.sh

  step "docs/getting-started.md with Bazel, as written"
  /usr/bin/python3 tests/docs/getting_started_test.py bazel "$root"
fi

step "cmake build + ctest"
build=${CPLUGIN_BUILD_DIR:-$root/build/test}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCPLUGIN_CRYPTO_BORINGSSL=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j2
