#!/usr/bin/env bash
# Installs the cplugin build in BUILD_DIR into a temporary prefix, then builds
# and runs a small program against the installed files twice: with CMake
# (find_package + cplugin_proto_library) and with pkg-config + protoc.
#   run_install_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null

for f in include/cplugin/cplugin.h include/cplugin/server.h include/cplugin/export.h \
         bin/protoc-gen-cplugin bin/cplugin-host \
         lib/cmake/cplugin/cpluginConfig.cmake; do
  [[ -e "$prefix/$f" ]] || { echo "not installed: $f" >&2; exit 1; }
done
pc=$(find "$prefix" -name cplugin.pc | head -n1)
[[ -n "$pc" ]] || { echo "cplugin.pc not installed" >&2; exit 1; }

echo "--- CMake consumer"
cmake -S "$src/tests/install" -B "$work/cmake-build" \
  -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
"$work/cmake-build/hello"
"$work/cmake-build/hello_shared"
# ldd's output is kept before it is searched: `ldd | grep -q` fails under
# pipefail whenever grep exits before ldd has written everything.
needs_libcplugin() {
  local deps
  deps=$(LD_LIBRARY_PATH="$prefix/lib:$prefix/lib64" ldd "$1")
  grep -q 'libcplugin\.so\.0' <<< "$deps"
}
needs_libcplugin "$work/cmake-build/hello_shared" || {
  echo "install test: hello_shared did not link libcplugin.so" >&2
  exit 1
}
if needs_libcplugin "$work/cmake-build/hello"; then
  echo "install test: hello linked libcplugin.so, not the archive" >&2
  exit 1
fi

echo "--- pkg-config consumer"
gen=$work/pc-gen
mkdir -p "$gen"
protoc -I"$src/tests/install/proto" --c_out="$gen" \
  --plugin=protoc-gen-cplugin="$prefix/bin/protoc-gen-cplugin" \
  --cplugin_out="$gen" hello/v1/hello.proto
export PKG_CONFIG_PATH=$(dirname "$pc")
# Exactly the pkg-config command the README gives.
pc_cmd=$(grep -o 'pkg-config --cflags --libs cplugin' "$src/README.md" | head -n1)
if [[ -z "$pc_cmd" ]]; then
  echo "install test: the README no longer gives the pkg-config command" >&2
  exit 1
fi
# shellcheck disable=SC2046,SC2086
cc -std=c11 -Wall -Wextra -Werror -I"$gen" -o "$work/hello-pc" \
  "$src/tests/install/hello_main.c" "$gen/hello/v1/hello.pb-c.c" \
  "$gen/hello/v1/hello.cplugin.c" \
  $($pc_cmd)
# libcplugin.so is preferred to libcplugin.a at link time; the prefix is
# not in the loader's path.
LD_LIBRARY_PATH="$prefix/lib:$prefix/lib64:$(dirname "$pc")/.." "$work/hello-pc"
needs_libcplugin "$work/hello-pc" || {
  echo "install test: the pkg-config consumer did not link libcplugin.so" >&2
  exit 1
}
echo "install test: ok"
