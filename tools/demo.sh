#!/usr/bin/env bash
# The main demo: installs what is missing, builds with CMake, and runs the
# URL shortener end to end in the managed mode — the host launches its three
# plugins (logger, storage, api) from a manifest, each its own process, wired
# only through the host's registry and router; kills one, shows it come back,
# and stops leaving nothing running. (The self-registering mode, plugins
# started by hand with HOST_URL: examples/urlshortener/run_demo.sh.)
# (The KV example: examples/kv/run_demo.sh, built by the same step.)
#   tools/demo.sh          the main demo
#   tools/demo.sh mixed    C, Python and Node plugins in one registry
#                          (examples/mixed-languages/run_demo.sh)
set -euo pipefail
case "${1:-}" in
  "" | mixed) ;;
  *)
    echo "usage: tools/demo.sh [mixed]" >&2
    exit 2
    ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash tools/install-deps.sh
build=${CPLUGIN_BUILD_DIR:-$root/build/demo}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCPLUGIN_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target urlshortener-host logger-plugin \
  storage-plugin api-plugin url-client kv-plugin kv-host >/dev/null
if [[ ${1:-} == mixed ]]; then
  exec bash examples/mixed-languages/run_demo.sh "$build"
fi
exec bash examples/urlshortener/run_managed_demo.sh "$build/examples/urlshortener"
