#!/usr/bin/env bash
# Runs the KV example end to end: starts kv-plugin as its own process on a free
# port, drives it with kv-host, then stops the plugin with SIGTERM.
#   run_demo.sh <dir holding kv-plugin and kv-host>
set -euo pipefail
bin=${1:?usage: run_demo.sh BIN_DIR}
out=$(mktemp)
plugin_pid=
cleanup() {
  if [[ -n "$plugin_pid" ]] && kill -0 "$plugin_pid" 2>/dev/null; then
    kill -TERM "$plugin_pid" 2>/dev/null || true
    wait "$plugin_pid" 2>/dev/null || true
  fi
  rm -f "$out"
}
trap cleanup EXIT INT TERM

# The shared wait helper (wait_for): from the runfiles under `bazel test`
# (where this script runs as a symlink named after the test), else next to
# this script in the source tree.
if [[ -n ${TEST_SRCDIR:-} ]]; then
  source "$TEST_SRCDIR/$TEST_WORKSPACE/tests/support/wait.sh"
else
  source "$(dirname "${BASH_SOURCE[0]}")/../../tests/support/wait.sh"
fi

export CONNECTPLUGIN_DISABLE_TLS_WARNING=1
"$bin/kv-plugin" --listen 127.0.0.1:0 >"$out" &
plugin_pid=$!
# Until the plugin prints LISTENING (or exits).
listening_or_gone() {
  grep -q '^LISTENING ' "$out" || ! kill -0 "$plugin_pid" 2>/dev/null
}
wait_seen() { echo "kv-plugin stdout:"; cat "$out"; }
wait_for "kv-plugin to print LISTENING" 0 listening_or_gone || true
address=$(sed -n 's/^LISTENING //p' "$out")
if [[ -z "$address" ]]; then
  echo "demo: kv-plugin did not start" >&2
  exit 1
fi
echo "demo: kv-plugin (pid $plugin_pid) serves kv.v1.KVService on $address"
"$bin/kv-host" --target "$address"
kill -TERM "$plugin_pid"
wait "$plugin_pid"
echo "demo: kv-plugin exited cleanly (status $?)"
plugin_pid=
