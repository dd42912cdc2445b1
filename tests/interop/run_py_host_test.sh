#!/usr/bin/env bash
# Bazel wrapper for the Python tests that drive a host program: runs
# SCRIPT HOST_BINARY proto (the runfiles' proto root).
#   run_py_host_test.sh HOST_BINARY SCRIPT
set -euo pipefail
exec /usr/bin/python3 "$2" "$1" proto
