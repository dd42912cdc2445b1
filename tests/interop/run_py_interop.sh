#!/usr/bin/env bash
# Bazel wrapper: runs the Python interop test with the runfiles' proto roots.
set -euo pipefail
exec /usr/bin/python3 "$2" "$1" proto tests/protos
