#!/usr/bin/env bash
# Static analysis of the project's own C code: cppcheck and clang-tidy.
#   tools/lint.sh [BUILD_DIR]   (BUILD_DIR holds compile_commands.json)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${1:-$root/build/lint}
sources=$(git ls-files 'runtime/src/*.c' 'codegen/*.c' 'examples/kv/*.c' \
  'tools/cpluginctl/*.c')

echo "cppcheck: warning, performance, portability"
# shellcheck disable=SC2086
cppcheck --quiet --error-exitcode=1 --std=c11 --inline-suppr \
  --enable=warning,performance,portability \
  --suppress=missingIncludeSystem \
  -I runtime/include -I runtime/src -I gen -I tools/cpluginctl $sources

# Configured and built every time (a no-op when current): a build tree from
# before a source was added has no compile command and no generated headers
# for it.
cmake -S . -B "$build" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  -DCPLUGIN_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
echo "clang-tidy: checks from .clang-tidy"
# shellcheck disable=SC2086
clang-tidy --quiet -p "$build" $sources
echo "lint: clean"
