#!/usr/bin/env bash
# Installs every Debian 12 package cplugin needs to build, test and benchmark.
# Idempotent: when everything is already installed it only runs dpkg-query (well under a second).
set -euo pipefail

packages=(
  build-essential pkg-config cmake git ca-certificates
  libgrpc-dev protobuf-compiler-grpc libgrpc++-dev
  libprotobuf-c-dev protobuf-c-compiler
  protobuf-compiler libprotobuf-dev libprotoc-dev
  libgtest-dev googletest libbenchmark-dev
  bazel-bootstrap bazel-rules-java
  libssl-dev openssl android-libboringssl-dev
  clang libclang-rt-14-dev clang-tidy clang-format cppcheck
  valgrind
  # h2load, the load generator of tools/compare.sh.
  nghttp2-client
  # libunistring-dev: `pkg-config --static cplugin` reaches libmicrohttpd's
  # gnutls, whose private libraries include -lunistring.
  libmicrohttpd-dev libunistring-dev prometheus curl
  # The plugin manifest's JSON parser.
  libjansson-dev
  python3 python3-grpcio python3-protobuf
  # Shared state of host replicas (issue 16): etcd's v3 API, tested against
  # a real etcd on loopback ...
  etcd-server
  # ... and Redis for their rate limits.
  redis-server libhiredis-dev
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
# Node.js (20 or later) and npm, for the Node plugin example
# (examples/node-plugin). The machines this project runs on have Node 20;
# where none is installed, Debian's nodejs is the fallback (18 on Debian 12:
# npm warns that connect-node asks for 20).
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

if ((${#missing[@]} > 0)); then
  echo "install-deps: installing ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then
    sudo=sudo
  else
    sudo=
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Node example's npm packages, exactly as its lockfile pins them; again
# only when the lockfile changed since the last install.
node_dir=$(cd "$(dirname "$0")/.." && pwd)/examples/node-plugin
stamp=$node_dir/node_modules/.cplugin-lock-sha256
want=$(sha256sum "$node_dir/package-lock.json" | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "install-deps: npm ci in examples/node-plugin" >&2
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" >"$stamp"
fi
