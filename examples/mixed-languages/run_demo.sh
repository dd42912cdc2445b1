#!/usr/bin/env bash
# Plugins in three languages in one host's registry, each its own process:
#
#   urlshortener-host (C)   <- logger-plugin (C), api-plugin (C),
#                              storage_plugin.py (Python, grpcio),
#                              kv_plugin.js (Node, @grpc/grpc-js)
#   url-client -> api (C) -> storage (Python) -> kv (Node)
#                            storage (Python) -> logger (C) <- kv (Node)
#   kv-host --host (C)  -> kv (Node): every call kind, routed
#   connect_client.js (Node, connect-node's gRPC transport) -> api (C),
#                                                          -> storage (Python)
#
# Every arrow is a call routed by the host. The demo shortens and resolves a
# URL, prints each route with the languages at its ends, checks that all six
# directions between C, Python and Node were taken, and stops everything
# (also on Ctrl-C).
#   run_demo.sh BUILD_DIR   (a CMake build tree of the project)
set -euo pipefail
build=${1:?usage: run_demo.sh BUILD_DIR}
bin=$build/examples/urlshortener
kv_bin=$build/examples/kv
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ -n ${TEST_SRCDIR:-} ]]; then
  # Under `bazel test`: the programs are runfiles, named by their packages.
  bin=$TEST_SRCDIR/$TEST_WORKSPACE/examples/urlshortener
  kv_bin=$TEST_SRCDIR/$TEST_WORKSPACE/examples/kv
  here=$TEST_SRCDIR/$TEST_WORKSPACE/examples/mixed-languages
fi
source "$here/../../tests/support/wait.sh"
source "$here/../../tests/support/demo_procs.sh"
python_plugin=$here/../python-plugin
node_plugin=$here/../node-plugin
work=$(mktemp -d)

for tool in node /usr/bin/python3 protoc; do
  if ! command -v "$tool" >/dev/null; then
    echo "demo: $tool is missing; run tools/install-deps.sh" >&2
    exit 1
  fi
done
if [[ ! -d $node_plugin/node_modules/@grpc/grpc-js ]]; then
  echo "demo: the Node packages are missing; run tools/install-deps.sh" >&2
  exit 1
fi

trap demo_cleanup EXIT
trap 'exit 130' INT TERM

export CONNECTPLUGIN_DISABLE_TLS_WARNING=1

# The host logs each routed call at debug level; the demo shows them.
start host env CPLUGIN_LOG_LEVEL=debug "$bin/urlshortener-host"
export HOST_URL=$address
echo "demo: C host serves on $HOST_URL"
start logger "$bin/logger-plugin"
echo "demo: C logger plugin serves on $address"
start kv node "$node_plugin/kv_plugin.js"
echo "demo: Node kv plugin serves on $address"
start storage /usr/bin/python3 "$python_plugin/storage_plugin.py"
echo "demo: Python storage plugin serves on $address"
start api "$bin/api-plugin"
api=$address
echo "demo: C api plugin serves on $api"

# Watch events across languages: the Python plugin watches the Node kv
# provider, the Node plugin the Python storage provider.
sees() { grep -q "^WATCH $2 AVAILABLE " "$work/$1.out"; }
wait_seen() { cat "$work/storage.out" "$work/kv.out"; }
wait_for "Python to see kv (Node) and Node to see storage (Python)" 0 \
  eval 'sees storage kv && sees kv storage'
echo "demo: Python watched: $(grep '^WATCH kv AVAILABLE' "$work/storage.out" | tail -1)"
echo "demo: Node watched:   $(grep '^WATCH storage AVAILABLE' "$work/kv.out" | tail -1)"

url="https://example.com/mixed/$(date +%s)"
code=$("$bin/url-client" --api "$api" shorten "$url")
echo "demo: C url-client: shorten $url -> $code"
connect() { node "$node_plugin/connect_client.js" --host "$HOST_URL" "$@"; }
resolved=$(connect resolve "$code")
echo "demo: Node connect client, through the host: resolve $code -> $resolved"
stored=$(connect get "$code")
echo "demo: Node connect client, through the host: storage get $code -> $stored"
if [[ "$resolved" != "$url" || "$stored" != "$url" ]]; then
  echo "demo: FAILED: the URL came back as '$resolved' / '$stored'" >&2
  exit 1
fi
echo "demo: C kv-host, through the host, every call kind to the Node kv plugin:"
if ! "$kv_bin/kv-host" --host "$HOST_URL" >"$work/kv-host.out" 2>&1; then
  cat "$work/kv-host.out" >&2
  echo "demo: FAILED: kv-host" >&2
  exit 1
fi
sed 's/^host: /  /' "$work/kv-host.out"

# The routes, with the language at each end (runtime IDs start with the
# plugin's self_id).
language() {
  case $1 in
    storage-*) echo Python ;;
    kv-host-*) echo C ;;
    kv-* | connect-client-*) echo Node ;;
    *) echo C ;;
  esac
}
routes() {
  sed -n 's/^.*ROUTER routed call: caller=\([^ ]*\) service=\([^ ]*\) provider=\([^ ]*\) method=\([^ ]*\).*$/\1 \3 \4/p' \
    "$work/host.err"
}
directions() {
  routes | while read -r caller provider method; do
    echo "$(language "$caller")->$(language "$provider")"
  done | sort -u
}
all_directions() { (($(directions | grep -cv '^\(C->C\|Python->Python\|Node->Node\)$') == 6)); }
wait_seen() { directions; }
# The host logs a routed call just after it starts forwarding it: a line can
# trail the reply.
if ! wait_for "routes in all six directions" 0 all_directions; then
  echo "demo: FAILED: not every direction between C, Python and Node taken" >&2
  exit 1
fi
echo "demo: routes taken through the host (caller -> provider):"
routes | while read -r caller provider method; do
  printf '  %-6s %-28s -> %-6s %-28s %s\n' "$(language "$caller")" "$caller" \
    "$(language "$provider")" "$provider" "$method"
done | sort | uniq -c | sed "s/^ *\([0-9]*\) /  \1x/"
echo "demo: directions: $(directions | grep -v '^\(C->C\|Python->Python\|Node->Node\)$' | tr '\n' ' ')"
echo "demo: ok; stopping"
demo_cleanup
echo "demo: every process stopped"
