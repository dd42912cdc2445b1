#!/usr/bin/env bash
# Side-by-side comparison: a cplugin host against gRPC C++, under h2load, on
# this machine, in one run.
#
#   tools/compare.sh                 3 rounds, ~10 s per measurement (~3 min)
#   tools/compare.sh --rounds 5      more rounds
#   tools/compare.sh --quick         smoke run: 1 round, ~1 s per measurement
#
# Servers, all answering /cplugin.load.v1.LoadService/Echo (16-byte payload):
#   full  `cpluginctl serve --chain on`: auth + rate limit (limits far above
#         the load, so nothing is rejected) + metrics
#   off   `cpluginctl serve --chain off`: the same host without the chain
#   ref   tools/compare/ref_server: gRPC C++ 1.51 callback server with the
#         same bearer-token check as a server interceptor
# Rounds are interleaved (round 1: full, off, ref at 1x1 then at 4x32;
# round 2: ...). h2load runs at `-c1 -m1` (1x1) and `-c4 -m32` (4x32) with
# content-type: application/grpc, te: trailers, authorization: Bearer <token>
# and x-plugin-runtime-id (tokens from `cpluginctl handshake` for full and
# off). Each server starts fresh per measurement; a measurement fails unless
# the server's `SERVED ok=<n>` equals h2load's successes and h2load reports
# no failed call (h2load counts gRPC errors as HTTP 200). Details, and why
# each run is a fixed count rather than h2load -D: tools/compare/compare.py.
#
# Output: build/bench/results/compare.md (machine, rounds, medians, ratios
# full/off and full/ref), compare.json and compare.csv next to it. Exit
# status 0 only when every measurement passed its grpc-status check.
#
# Options:
#   --rounds N        rounds (default 3; --quick: 1)
#   --duration S      seconds per measured run (default 10; --quick: 1)
#   --quick           smoke run
#   --build-dir DIR   CMake Release tree to build in (default build/bench)
#   --out DIR         results directory (default <build-dir>/results)
#   --shared          also measure `shared`: full with its rate limits shared
#                     through a redis-server, and its identities and registry
#                     through an etcd, that this script starts on loopback
#   --cpluginctl PATH --ref-server PATH
#                     use these binaries; with both given nothing is
#                     installed or built (the smoke tests do this)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
invocation="tools/compare.sh${*:+ $*}"

rounds=() duration=() quick=() shared=
build='' out='' cpluginctl='' ref_server=''
while (($#)); do
  case "$1" in
    --rounds) rounds=(--rounds "$2"); shift 2 ;;
    --duration) duration=(--duration "$2"); shift 2 ;;
    --quick) quick=(--quick); shift ;;
    --shared) shared=1; shift ;;
    --build-dir) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --cpluginctl) cpluginctl=$2; shift 2 ;;
    --ref-server) ref_server=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [[ -z "$cpluginctl" || -z "$ref_server" ]]; then
  bash tools/install-deps.sh
  build=${build:-$root/build/bench}
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"$(nproc)" --target cpluginctl ref_server >/dev/null
  cpluginctl=${cpluginctl:-$build/tools/cpluginctl/cpluginctl}
  ref_server=${ref_server:-$build/tools/compare/ref_server}
fi
out=${out:-${build:-$root/build/bench}/results}

shared_args=()
if [[ -n "$shared" ]]; then
  redis_port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
  redis_pid=$!
  trap 'kill "$redis_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 100); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  shared_args=(--redis "127.0.0.1:$redis_port")
  # And an etcd for its identities and registry, as a replica has.
  etcd_port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  peer_port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  etcd_dir=$(mktemp -d)
  etcd --name compare --data-dir "$etcd_dir/data" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "compare=http://127.0.0.1:$peer_port" >"$etcd_dir/log" 2>&1 &
  etcd_pid=$!
  trap 'kill "$redis_pid" "$etcd_pid" 2>/dev/null || true; rm -rf "$etcd_dir"' EXIT
  for _ in $(seq 100); do
    /usr/bin/python3 -c 'import sys, urllib.request
sys.exit(b"true" not in urllib.request.urlopen(sys.argv[1], timeout=1).read())' \
      "http://127.0.0.1:$etcd_port/health" 2>/dev/null && break
    sleep 0.1
  done
  shared_args+=(--etcd "127.0.0.1:$etcd_port")
  CPLUGIN_REPLICA_SECRET=$(head -c 24 /dev/urandom | base64)
  export CPLUGIN_REPLICA_SECRET
fi

# /usr/bin/python3: the Debian interpreter (another python3 may be first on
# PATH); the driver uses the standard library only.
/usr/bin/python3 "$root/tools/compare/compare.py" \
  --cpluginctl "$cpluginctl" --ref-server "$ref_server" --out "$out" \
  "${rounds[@]}" "${duration[@]}" "${quick[@]}" "${shared_args[@]}" \
  --command "$invocation"
