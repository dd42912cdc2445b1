#!/usr/bin/env bash
# Compiles what protoc-c and protoc-gen-cplugin generate, for the test protos
# and for proto/, with the runtime's public headers: every .c file with
# -std=c11 -Wall -Wextra -Werror (and the prototype warnings the project uses),
# compile only. With a C++ compiler, also checks that each generated header of
# the test protos is valid C++ (proto/kv.proto is left out there: protoc-c
# names a member `delete` in kv.pb-c.h).
#
#   compile_generated.sh PLUGIN CC [CXX]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
plugin=${1:?usage: compile_generated.sh PLUGIN CC [CXX]}
cc=${2:?usage: compile_generated.sh PLUGIN CC [CXX]}
cxx=${3:-}
protoc=${PROTOC:-protoc}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

pb_cflags=$(pkg-config --cflags libprotobuf-c 2>/dev/null || true)
cflags=(-std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
        -Wmissing-prototypes -I"$root/runtime/include")

# generate NAME PROTO_ROOT: protoc-c and protoc-gen-cplugin into $tmp/NAME.
generate() {
  local protos
  mapfile -t protos < <(cd "$2" && find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)
  mkdir -p "$tmp/$1"
  "$protoc" -I"$2" --c_out="$tmp/$1" --plugin=protoc-gen-cplugin="$plugin" \
    --cplugin_out="$tmp/$1" "${protos[@]}"
}

generate test "$here/protos"
generate proto "$root/proto"

failed=0
count=0
for dir in test proto; do
  while IFS= read -r src; do
    count=$((count + 1))
    # shellcheck disable=SC2086
    if ! "$cc" "${cflags[@]}" -I"$tmp/$dir" $pb_cflags -c "$tmp/$dir/$src" -o "$tmp/out.o"; then
      echo "compile_generated.sh: $dir/$src does not compile" >&2
      failed=1
    fi
  done < <(cd "$tmp/$dir" && find . -name '*.c' | sed 's|^\./||' | LC_ALL=C sort)
done

if [[ -n $cxx ]]; then
  while IFS= read -r header; do
    count=$((count + 1))
    # shellcheck disable=SC2086
    if ! printf '#include "%s"\n' "$header" |
        "$cxx" -std=c++17 -Wall -Wextra -Werror -fsyntax-only -x c++ \
          -I"$tmp/test" -I"$root/runtime/include" $pb_cflags -; then
      echo "compile_generated.sh: $header is not valid C++" >&2
      failed=1
    fi
  done < <(cd "$tmp/test" && find . -name '*.cplugin.h' | sed 's|^\./||' | LC_ALL=C sort)
fi

if ((failed)); then
  exit 1
fi
echo "compile_generated.sh: $count files compile"
