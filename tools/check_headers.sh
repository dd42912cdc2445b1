#!/usr/bin/env bash
# Fails when a public header does not compile on its own: each
# runtime/include/cplugin/*.h is included alone, first thing, in a C and in a
# C++ translation unit, with warnings as errors. A header that leans on what
# another one happened to include breaks users who include it first.
#   check_headers.sh [ROOT]
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cflags=$(pkg-config --cflags libprotobuf-c)
failed=0
count=0
for h in "$root"/runtime/include/cplugin/*.h; do
  name=cplugin/$(basename "$h")
  for lang in c c++; do
    count=$((count + 1))
    # shellcheck disable=SC2086  # cflags is a list of flags
    if ! printf '#include "%s"\n' "$name" |
      cc -x "$lang" -fsyntax-only -Wall -Wextra -Werror $cflags \
        -I"$root/runtime/include" - 2>"${TMPDIR:-/tmp}/check_headers.$$"; then
      echo "check_headers: $name does not compile on its own ($lang):"
      cat "${TMPDIR:-/tmp}/check_headers.$$"
      failed=1
    fi
  done
done
rm -f "${TMPDIR:-/tmp}/check_headers.$$"
if ((failed)); then
  exit 1
fi
echo "check_headers: $count compilations, every public header stands alone in C and C++"
