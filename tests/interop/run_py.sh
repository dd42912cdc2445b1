#!/usr/bin/env bash
# Bazel wrapper for a Python test: runs SCRIPT ARGS... with the system
# Python, which has grpcio.
#   run_py.sh SCRIPT ARGS...
set -euo pipefail
exec /usr/bin/python3 "$@"
