#!/usr/bin/env bash
# Two host replicas sharing one registry, identities (etcd) and rate limits
# (Redis), with the URL-shortener plugins split between them, each part its
# own process on loopback:
#
#   etcd, redis-server          the shared state (fresh, in a temp dir)
#   replica A  <- logger-plugin, storage-plugin   (HOST_URL: A, then B)
#   replica B  <- api-plugin                      (HOST_URL: B, then A)
#   url-client -> api -(B's router)-> storage -(A's router)-> logger
#
# The api plugin at B finds the storage plugin registered at A; then A is
# killed, the logger and storage plugins fail over to B with their tokens
# and registrations, and the same calls go on through B alone. Stops
# everything, also on Ctrl-C.
#   run_demo.sh BUILD_DIR   (a CMake build tree of the project, or a
#                            directory holding the five programs)
set -euo pipefail
build=${1:?usage: run_demo.sh BUILD_DIR}
bin=$build/examples/urlshortener
[[ -x $bin/urlshortener-host ]] || bin=$build
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

for tool in etcd redis-server redis-cli python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "demo: $tool is missing; run tools/install-deps.sh" >&2
    exit 1
  fi
done

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

etcd_port=$(free_port)
peer_port=$(free_port)
redis_port=$(free_port)
spawn etcd etcd --name demo --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" \
  --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "demo=http://127.0.0.1:$peer_port"
spawn redis redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
  --appendonly no --dir "$work"
etcd_healthy() {
  python3 -c 'import sys, urllib.request
sys.exit(b"true" not in urllib.request.urlopen(sys.argv[1], timeout=1).read())' \
    "http://127.0.0.1:$etcd_port/health"
}
wait_seen() { tail -5 "$work/etcd.err"; }
wait_for "etcd to be healthy" 0 etcd_healthy
wait_seen() { tail -5 "$work/redis.out"; }
wait_for "redis to answer" 0 redis-cli -p "$redis_port" ping
echo "demo: etcd on 127.0.0.1:$etcd_port, redis on 127.0.0.1:$redis_port"

export CONNECTPLUGIN_DISABLE_TLS_WARNING=1
CPLUGIN_REPLICA_SECRET=$(head -c 24 /dev/urandom | base64)
export CPLUGIN_REPLICA_SECRET
shared=(--etcd "127.0.0.1:$etcd_port" --redis "127.0.0.1:$redis_port")
start a env CPLUGIN_LOG_LEVEL=debug "$bin/urlshortener-host" "${shared[@]}"
replica_a=$address
start b env CPLUGIN_LOG_LEVEL=debug "$bin/urlshortener-host" "${shared[@]}"
replica_b=$address
echo "demo: replica A on $replica_a, replica B on $replica_b"

# gRPC's ipv4: target with two addresses: the first while it answers, else
# the next (a plugin's failover list; behind a load balancer, one address).
HOST_URL="ipv4:$replica_a,$replica_b" start logger "$bin/logger-plugin"
HOST_URL="ipv4:$replica_a,$replica_b" start storage "$bin/storage-plugin"
HOST_URL="ipv4:$replica_b,$replica_a" start api "$bin/api-plugin"
api=$address
echo "demo: logger and storage joined A; api joined B (serves on $api)"

round_trip() {
  local url="https://example.com/cplugin/$1/$(date +%s%N)"
  local code resolved
  code=$("$bin/url-client" --api "$api" shorten "$url") || return 1
  resolved=$("$bin/url-client" --api "$api" resolve "$code") || return 1
  [[ "$resolved" == "$url" ]] || return 1
  echo "demo: $1: shorten $url -> $code -> resolved back"
}

# The api's first call waits for storage's registration to reach B.
routed() { grep -c "ROUTER routed call.*service=$2" "$work/$1.err" || true; }
wait_seen() { tail -5 "$work/api.err"; }
wait_for "a round trip across the replicas" 0 round_trip "first" ||
  { echo "demo: FAILED: no round trip across the replicas" >&2; exit 1; }
round_trip "across-A-and-B"
echo "demo: routed at A: $(routed a storage) to storage, $(routed a logger) to logger;" \
  "at B: $(routed b storage) to storage, $(routed b logger) to logger"
if (($(routed b storage) == 0)); then
  echo "demo: FAILED: B never routed to the storage plugin registered at A" >&2
  exit 1
fi

echo "demo: killing replica A"
kill -KILL "$(pid_of a)"
wait "$(pid_of a)" 2>/dev/null || true
# A plugin's channel moves to B by itself (its next call goes there); one
# with a watch open notices the end of the stream and joins B again.
for p in logger storage; do
  if grep -q 'host link restored' "$work/$p.err"; then
    echo "demo: $p noticed and rejoined at B with its identity"
  fi
done
before_logger=$(routed b logger)
wait_seen() { tail -5 "$work/api.err" "$work/storage.err"; }
wait_for "a round trip through B alone" 0 round_trip "after-A-died" ||
  { echo "demo: FAILED: no round trip after A died" >&2; exit 1; }
round_trip "through-B-alone"
logged_at_b() { (($(routed b logger) > before_logger)); }
wait_for "B to route storage's log calls" 0 logged_at_b ||
  { echo "demo: FAILED: B never routed to the logger" >&2; exit 1; }
echo "demo: routed at B: $(routed b storage) to storage, $(routed b logger) to logger"
echo "demo: ok; stopping"
demo_cleanup
echo "demo: every process stopped"
