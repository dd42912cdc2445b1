#!/usr/bin/env bash
# The URL-shortener demo, end to end, each part its own process:
#   urlshortener-host  <- logger-plugin, storage-plugin, api-plugin (HOST_URL)
#   url-client -> api-plugin -(host router)-> storage-plugin -(router)-> logger
# Shortens a URL, resolves it, prints the route every call took (from the
# host's log), and stops everything; nothing is left running, also on Ctrl-C.
#   run_demo.sh BIN_DIR      (BIN_DIR holds the five programs)
set -euo pipefail
bin=${1:?usage: run_demo.sh BIN_DIR}
# The shared helpers (wait_for, start): from the runfiles under `bazel test`
# (where this script runs as a symlink named after the test), else next to
# this script in the source tree.
if [[ -n ${TEST_SRCDIR:-} ]]; then
  support=$TEST_SRCDIR/$TEST_WORKSPACE/tests/support
else
  support=$(dirname "${BASH_SOURCE[0]}")/../../tests/support
fi
source "$support/wait.sh"
source "$support/demo_procs.sh"
work=$(mktemp -d)

trap demo_cleanup EXIT
trap 'exit 130' INT TERM

export CONNECTPLUGIN_DISABLE_TLS_WARNING=1

# Debug level: the host logs each routed call, which the demo shows.
start host env CPLUGIN_LOG_LEVEL=debug "$bin/urlshortener-host"
host=$address
echo "demo: host serves on $host (metrics on port $(sed -n 's/^METRICS //p' "$work/host.out"))"
export HOST_URL=$host
start logger "$bin/logger-plugin"
logger=$address
echo "demo: logger plugin serves on $logger"
start storage "$bin/storage-plugin"
storage=$address
echo "demo: storage plugin serves on $storage"
start api "$bin/api-plugin"
api=$address
echo "demo: api plugin serves on $api"

url="https://example.com/cplugin/$(date +%s)"
code=$("$bin/url-client" --api "$api" shorten "$url")
echo "demo: shorten $url -> $code"
resolved=$("$bin/url-client" --api "$api" resolve "$code")
echo "demo: resolve $code -> $resolved"
if [[ "$resolved" != "$url" ]]; then
  echo "demo: FAILED: resolved URL differs" >&2
  exit 1
fi
if "$bin/url-client" --api "$api" resolve nosuchcode 2>"$work/missing.err"; then
  echo "demo: FAILED: unknown code resolved" >&2
  exit 1
fi
echo "demo: resolve nosuchcode -> $(cat "$work/missing.err")"
# A program that is not a plugin, calling through the host's router: it
# joins as a caller (cplugin/host_caller.h) and the host picks the api.
routed=$("$bin/url-client" --host "$host" resolve "$code")
echo "demo: resolve $code through the host -> $routed"
if [[ "$routed" != "$url" ]]; then
  echo "demo: FAILED: the routed resolve differs" >&2
  exit 1
fi

# The host logs a routed call just after it starts forwarding it, so a line
# can trail the reply the client already has: wait for the url-client->api
# route, the four api->storage routes (one per url-client call) and the
# storage->logger route of each.
routes_to() { grep -c "ROUTER routed call.*service=$1" "$work/host.err" || true; }
routes_logged() {
  (($(routes_to api) >= 1 && $(routes_to storage) >= 4 &&
    $(routes_to logger) >= 4))
}
wait_seen() { grep 'ROUTER routed call' "$work/host.err" || echo "(no routed call logged)"; }
if ! wait_for "the host to log the client->api, api->storage and storage->logger routes" 0 \
  routes_logged; then
  echo "demo: FAILED: expected client->api, api->storage and storage->logger routes" >&2
  exit 1
fi
echo "demo: routes taken through the host:"
grep 'ROUTER routed call' "$work/host.err" | sed 's/^.*ROUTER routed call: /  /'
echo "demo: logger plugin received:"
sed 's/^/  /' "$work/logger.out" | grep 'logger:' || true
routes=$(grep -c 'ROUTER routed call' "$work/host.err" || true)
echo "demo: ok ($routes routed calls); stopping"
demo_cleanup
echo "demo: every process stopped"
