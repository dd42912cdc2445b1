#!/usr/bin/env bash
# The URL-shortener demo in the managed mode: the host launches its three
# plugins from manifest.json, gives each its identity and supervises them.
#   urlshortener-host --manifest manifest.json
#     -> logger-plugin, storage-plugin, api-plugin (private Unix sockets)
#   url-client -> api-plugin -(host router)-> storage-plugin -(router)-> logger
# Shortens and resolves a URL, kills the storage plugin with SIGKILL, shows
# the host bring it back, uses it again, and stops the host: no process is
# left running, also on Ctrl-C.
#   run_managed_demo.sh BIN_DIR   (BIN_DIR holds the programs and the manifest)
set -euo pipefail
bin=${1:?usage: run_managed_demo.sh BIN_DIR}
work=$(mktemp -d)
host_pid=""

cleanup() {
  if [[ -n $host_pid ]]; then
    kill -TERM "$host_pid" 2>/dev/null || true
    wait "$host_pid" 2>/dev/null || true
    host_pid=""
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n ${TEST_SRCDIR:-} ]]; then
  source "$TEST_SRCDIR/$TEST_WORKSPACE/tests/support/wait.sh"
else
  source "$(dirname "${BASH_SOURCE[0]}")/../../tests/support/wait.sh"
fi

fail() {
  echo "demo: FAILED: $*" >&2
  sed 's/^/  host: /' "$work/host.err" >&2 || true
  exit 1
}

alive() { [[ -e /proc/$1 ]] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# Debug level: the host logs each routed call, which the demo shows.
CPLUGIN_LOG_LEVEL=debug "$bin/urlshortener-host" --manifest "$bin/manifest.json" \
  >"$work/host.out" 2>"$work/host.err" &
host_pid=$!
listening_or_gone() { grep -q '^LISTENING ' "$work/host.out" || ! kill -0 "$host_pid"; }
wait_seen() { cat "$work/host.out"; }
wait_for "the host to launch its plugins" 0 listening_or_gone || true
grep -q '^LISTENING ' "$work/host.out" || fail "the host did not start its plugins"
echo "demo: host serves on $(sed -n 's/^LISTENING //p' "$work/host.out")"
sed -n 's/^PLUGIN \([^ ]*\) \([^ ]*\) \([0-9]*\)$/demo: launched \1 (pid \3) serving on \2/p' \
  "$work/host.out"
endpoint() { awk -v n="$1" '$1 == "PLUGIN" && $2 == n { print $3 }' "$work/host.out"; }
pid_of() { awk -v n="$1" '$1 == "PLUGIN" && $2 == n { print $4 }' "$work/host.out"; }
api=$(endpoint api)
pids=("$(pid_of logger)" "$(pid_of storage)" "$(pid_of api)")

shorten_and_resolve() {
  local url code resolved
  url="https://example.com/cplugin/$1/$(date +%s%N)"
  code=$("$bin/url-client" --api "$api" shorten "$url") || fail "shorten $url"
  resolved=$("$bin/url-client" --api "$api" resolve "$code") || fail "resolve $code"
  echo "demo: shorten $url -> $code; resolve -> $resolved"
  [[ $resolved == "$url" ]] || fail "resolved URL differs"
}
shorten_and_resolve first

storage=$(pid_of storage)
echo "demo: kill -9 storage plugin (pid $storage)"
kill -KILL "$storage"
# The host restarts it, gives it a new identity and waits for HEALTHY.
restarted() { (($(grep -c 'plugin running: plugin=storage' "$work/host.err") >= 2)); }
wait_seen() { grep 'plugin=storage' "$work/host.err"; }
wait_for "the host to restart storage" 0 restarted || fail "storage did not come back"
line=$(grep 'plugin running: plugin=storage' "$work/host.err" | tail -1)
new_pid=$(sed -n 's/.* pid=\([0-9]*\).*/\1/p' <<<"$line")
echo "demo: storage is back: pid $new_pid, $(sed -n 's/.*\(runtime_id=[^ ]*\).*/\1/p' <<<"$line")"
pids+=("$new_pid")
shorten_and_resolve after-restart

echo "demo: routes taken through the host:"
grep 'ROUTER routed call' "$work/host.err" | sed 's/^.*ROUTER routed call: /  /' | tail -4

echo "demo: stopping the host"
kill -TERM "$host_pid"
wait "$host_pid" || fail "the host exited with status $?"
host_pid=""
for pid in "${pids[@]}"; do
  if alive "$pid"; then
    fail "plugin process $pid still runs"
  fi
done
echo "demo: ok; every plugin process stopped with the host"
