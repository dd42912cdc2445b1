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

export CONNECTPLUGIN_DISABLE_TLS_WARNING=1
"$bin/kv-plugin" --listen 127.0.0.1:0 >"$out" &
plugin_pid=$!
address=
for _ in $(seq 1 100); do
  address=$(sed -n 's/^LISTENING //p' "$out")
  [[ -n "$address" ]] && break
  sleep 0.05
done
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
