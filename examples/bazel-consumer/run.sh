#!/usr/bin/env bash
# Builds the Bazel consumer example (a separate workspace that uses cplugin as
# the external repository @cplugin), runs it and its test, and exits non-zero
# on any failure. Offline: nothing is downloaded.
#
#   examples/bazel-consumer/run.sh [extra bazel build/test flags, e.g. --config=asan]
#
# CPLUGIN_DIR=/abs/path overrides where @cplugin comes from (default: ../..,
# set in WORKSPACE). The Bazel server of this workspace is shut down at the
# end unless KEEP_BAZEL=1.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

flags=("$@")
if [[ -n "${CPLUGIN_DIR:-}" ]]; then
  # --override_repository only takes absolute paths in Bazel 4.2.3.
  flags+=("--override_repository=cplugin=$(cd "$CPLUGIN_DIR" && pwd)")
fi

cleanup() {
  if [[ "${KEEP_BAZEL:-0}" != 1 ]]; then
    bazel shutdown >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

status=0
echo "== bazel-consumer: bazel build //..."
bazel build "${flags[@]}" //... || status=$?
if ((status == 0)); then
  echo "== bazel-consumer: bazel run //:greeter"
  bazel run "${flags[@]}" //:greeter || status=$?
fi
if ((status == 0)); then
  echo "== bazel-consumer: bazel test //..."
  bazel test "${flags[@]}" //... || status=$?
fi
if ((status == 0)); then
  echo "bazel-consumer: PASS"
else
  echo "bazel-consumer: FAIL (exit $status)" >&2
fi
exit "$status"
