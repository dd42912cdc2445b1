#!/usr/bin/env bash
# Fails when a shared library exports a symbol that no public header
# declares: libcplugin.so must export its public API (the declarations
# marked CP_API in runtime/include/cplugin, and the generated code of
# cplugin's own protos installed from gen/) and nothing else. With
# --archive, also fails when a symbol the headers declare and the static
# library defines is missing from the shared one (a declaration without
# CP_API), and when the archive defines a global symbol that is neither
# public nor named with the internal prefix cpi_ (the static library puts
# every global into its users' namespace).
#   check_exports.sh LIBRARY.so [--archive LIBRARY.a] HEADER_DIR...
# Every header under the directories counts, except gen/kv (an example's
# protocol) and gen/etcd (etcd's, used by tests): neither is installed.
set -euo pipefail
usage="usage: check_exports.sh LIBRARY.so [--archive LIBRARY.a] HEADER_DIR..."
[[ $# -ge 2 ]] || { echo "$usage" >&2; exit 2; }
lib=$1
shift
archive=
if [[ $1 == --archive ]]; then
  [[ $# -ge 3 ]] || { echo "$usage" >&2; exit 2; }
  archive=$2
  shift 2
  [[ -f "$archive" ]] || { echo "check_exports: no archive $archive" >&2; exit 2; }
fi
[[ -f "$lib" ]] || { echo "check_exports: no library $lib" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Every identifier any public header spells: a name the headers never
# mention cannot be public API.
find "$@" -name '*.h' -not -path '*/kv/*' -not -path '*/etcd/*' -print0 |
  xargs -0 cat | grep -oE '[A-Za-z_][A-Za-z0-9_]*' | sort -u > "$work/public"
[[ -s "$work/public" ]] || { echo "check_exports: no headers in $*" >&2; exit 2; }

# Defined dynamic symbols, without the linker's own (_init, _fini, ...).
nm -D --defined-only --format=posix "$lib" | awk '{print $1}' |
  sed 's/@.*//' | grep -vE '^(_init|_fini|_edata|_end|__bss_start)$' |
  sort -u > "$work/exported"
[[ -s "$work/exported" ]] || { echo "check_exports: $lib exports nothing" >&2; exit 1; }

comm -23 "$work/exported" "$work/public" > "$work/extra"
if [[ -s "$work/extra" ]]; then
  echo "$lib exports $(wc -l < "$work/extra") symbols no public header declares:" >&2
  cat "$work/extra" >&2
  exit 1
fi
if [[ -n "$archive" ]]; then
  nm --defined-only -g --format=posix "$archive" 2>/dev/null |
    awk 'NF >= 2 && $2 ~ /^[TDBRVW]$/ {print $1}' | sort -u > "$work/globals"
  comm -12 "$work/globals" "$work/public" |
    comm -23 - "$work/exported" > "$work/missing"
  if [[ -s "$work/missing" ]]; then
    echo "$lib does not export $(wc -l < "$work/missing") symbols the headers declare (CP_API missing?):" >&2
    cat "$work/missing" >&2
    exit 1
  fi
  # protoc-c's generated code defines its services' method index tables
  # without declaring them; the version script hides them from the .so.
  comm -23 "$work/globals" "$work/public" |
    grep -vE '^cpi_|__method_indices_by_name$' > "$work/unprefixed" || true
  if [[ -s "$work/unprefixed" ]]; then
    echo "$archive defines $(wc -l < "$work/unprefixed") internal globals without the cpi_ prefix:" >&2
    cat "$work/unprefixed" >&2
    exit 1
  fi
fi
echo "$(basename "$lib"): $(wc -l < "$work/exported") symbols, all public API${archive:+, none missing}"
