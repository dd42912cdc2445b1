#!/usr/bin/env bash
# Regenerates the checked-in gen/ tree from proto/: protoc-c (--c_out) and
# protoc-gen-cplugin (--cplugin_out) over every .proto under proto/.
#
#   tools/regen.sh [--plugin PATH] [--check]
#
# --plugin PATH  use this protoc-gen-cplugin; by default the script builds
#                codegen/ on its own with CMake in $CPLUGIN_REGEN_BUILD_DIR
#                (default: a directory under $TMPDIR or /tmp named after this
#                checkout), which is quick when it is up to date.
# --check        regenerate into a temporary directory and compare with gen/
#                instead of writing: exits 1 and shows a diff when gen/ is
#                stale (the codegen_gen_fresh test runs this).
#
# Only generated files (*.pb-c.[ch], *.cplugin.[ch]) are written or compared;
# everything else in gen/ (CMakeLists.txt, BUILD files) is left alone. The
# output depends on the protoc-c version (1.4.1 on Debian 12).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
plugin=""
check=0
while (($# > 0)); do
  case "$1" in
    --plugin) plugin=${2:?--plugin needs a path}; shift 2 ;;
    --check) check=1; shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "regen.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

protoc=${PROTOC:-protoc}

if [[ -z $plugin ]]; then
  build=${CPLUGIN_REGEN_BUILD_DIR:-${TMPDIR:-/tmp}/cplugin-regen-codegen-$(id -u)-$(printf %s "$root" | cksum | cut -d" " -f1)}
  cmake -S "$root/codegen" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" --target protoc-gen-cplugin >/dev/null
  plugin=$build/protoc-gen-cplugin
fi
plugin=$(cd "$(dirname "$plugin")" && pwd)/$(basename "$plugin")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Sorted, so that the order of files in the request is always the same.
mapfile -t protos < <(cd "$root/proto" && find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)
mkdir -p "$tmp/gen"
"$protoc" -I"$root/proto" --c_out="$tmp/gen" \
  --plugin=protoc-gen-cplugin="$plugin" --cplugin_out="$tmp/gen" "${protos[@]}"

# Lists the generated files under a directory, relative to it.
list_generated() {
  (cd "$1" && find . -type f \( -name '*.pb-c.[ch]' -o -name '*.cplugin.[ch]' \) \
     | sed 's|^\./||' | LC_ALL=C sort)
}

if ((check)); then
  mkdir -p "$tmp/empty"
  current=$root/gen
  [[ -d $current ]] || current=$tmp/empty
  if ! diff -u <(list_generated "$current") <(list_generated "$tmp/gen") >"$tmp/list.diff"; then
    echo "regen.sh: gen/ is stale: the set of generated files differs (-gen/ +expected):" >&2
    cat "$tmp/list.diff" >&2
    echo "run tools/regen.sh to update gen/" >&2
    exit 1
  fi
  stale=0
  while IFS= read -r file; do
    if ! diff -u "$current/$file" "$tmp/gen/$file" >&2; then
      stale=1
    fi
  done < <(list_generated "$tmp/gen")
  if ((stale)); then
    echo "regen.sh: gen/ is stale; run tools/regen.sh to update it" >&2
    exit 1
  fi
  echo "regen.sh: gen/ is up to date ($(list_generated "$tmp/gen" | wc -l) files)"
  exit 0
fi

mkdir -p "$root/gen"
# Remove generated files that would not be generated any more, then copy.
while IFS= read -r file; do
  [[ -e $tmp/gen/$file ]] || rm -f "$root/gen/$file"
done < <(list_generated "$root/gen")
(cd "$tmp/gen" && find . -type d -empty -delete)
cp -R "$tmp/gen/." "$root/gen/"
find "$root/gen" -mindepth 1 -type d -empty -delete
echo "regen.sh: wrote $(list_generated "$tmp/gen" | wc -l) files to gen/"
