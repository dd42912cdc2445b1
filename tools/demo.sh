#!/usr/bin/env bash
# The main demo: installs what is missing, builds with CMake, and runs the
# URL shortener end to end — a host and three plugins (logger, storage, api),
# each its own process, wired only through the host's registry and router.
# (The KV example: examples/kv/run_demo.sh, built by the same step.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash tools/install-deps.sh
build=${CPLUGIN_BUILD_DIR:-$root/build/demo}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCPLUGIN_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target urlshortener-host logger-plugin \
  storage-plugin api-plugin url-client kv-plugin kv-host >/dev/null
exec bash examples/urlshortener/run_demo.sh "$build/examples/urlshortener"
