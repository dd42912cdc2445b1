#!/usr/bin/env bash
# Bazel wrapper: runs the Python health interop test with the runfiles'
# proto root.
set -euo pipefail
exec /usr/bin/python3 "$2" "$1" proto
