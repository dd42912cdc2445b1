#!/usr/bin/env bash
# The main demo: installs what is missing, builds with CMake, and runs the KV
# example end to end (a plugin process and a host process).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash tools/install-deps.sh
build=${CPLUGIN_BUILD_DIR:-$root/build/demo}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCPLUGIN_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target kv-plugin kv-host >/dev/null
exec bash examples/kv/run_demo.sh "$build/examples/kv"
