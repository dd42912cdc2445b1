#!/usr/bin/env bash
# The URL-shortener demo, end to end, each part its own process:
#   urlshortener-host  <- logger-plugin, storage-plugin, api-plugin (HOST_URL)
#   url-client -> api-plugin -(host router)-> storage-plugin -(router)-> logger
# Shortens a URL, resolves it, prints the route every call took (from the
# host's log), and stops everything; nothing is left running, also on Ctrl-C.
#   run_demo.sh BIN_DIR      (BIN_DIR holds the five programs)
set -euo pipefail
bin=${1:?usage: run_demo.sh BIN_DIR}
work=$(mktemp -d)
pids=()

cleanup() {
  # Plugins first (they unregister from the host), then the host.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  pids=()
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The shared wait helper (wait_for): from the runfiles under `bazel test`
# (where this script runs as a symlink named after the test), else next to
# this script in the source tree.
if [[ -n ${TEST_SRCDIR:-} ]]; then
  source "$TEST_SRCDIR/$TEST_WORKSPACE/tests/support/wait.sh"
else
  source "$(dirname "${BASH_SOURCE[0]}")/../../tests/support/wait.sh"
fi

export CONNECTPLUGIN_DISABLE_TLS_WARNING=1

# listening_or_gone NAME PID: NAME printed LISTENING, or PID exited.
listening_or_gone() {
  grep -q '^LISTENING ' "$work/$1.out" 2>/dev/null || ! kill -0 "$2" 2>/dev/null
}

# Starts a program in the background and waits for its LISTENING line;
# sets $address. (Not run in a subshell: the pid must reach `pids`.)
start() {
  local name=$1
  shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  wait_seen() { cat "$work/$name.out"; }
  wait_for "$name to print LISTENING" 0 listening_or_gone "$name" "${pids[-1]}" ||
    true
  address=$(sed -n 's/^LISTENING //p' "$work/$name.out")
  if [[ -n "$address" ]]; then
    return 0
  fi
  echo "demo: $name did not start:" >&2
  cat "$work/$name.err" >&2
  return 1
}

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

# The host logs a routed call just after it starts forwarding it, so a line
# can trail the reply the client already has: wait for the three
# api->storage routes (one per url-client call) and the storage->logger
# route of each.
routes_to() { grep -c "ROUTER routed call.*service=$1" "$work/host.err" || true; }
routes_logged() { (($(routes_to storage) >= 3 && $(routes_to logger) >= 3)); }
wait_seen() { grep 'ROUTER routed call' "$work/host.err" || echo "(no routed call logged)"; }
if ! wait_for "the host to log the api->storage and storage->logger routes" 0 \
  routes_logged; then
  echo "demo: FAILED: expected api->storage and storage->logger routes" >&2
  exit 1
fi
echo "demo: routes taken through the host:"
grep 'ROUTER routed call' "$work/host.err" | sed 's/^.*ROUTER routed call: /  /'
echo "demo: logger plugin received:"
sed 's/^/  /' "$work/logger.out" | grep 'logger:' || true
routes=$(grep -c 'ROUTER routed call' "$work/host.err" || true)
echo "demo: ok ($routes routed calls); stopping"
cleanup
echo "demo: every process stopped"
