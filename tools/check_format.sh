#!/usr/bin/env bash
# Fails when hand-written C/C++ sources differ from .clang-format.
# Generated code (gen/, golden files) is left as the generators write it.
#   tools/check_format.sh [--fix]
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h' '*.cc' |
  grep -v -e '^gen/' -e '^tests/codegen/golden/' -e '^tests/tools/fixtures/')
if [[ "${1:-}" == "--fix" ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
clang-format --dry-run --Werror "${files[@]}"
echo "format: ${#files[@]} files clean"
