#!/usr/bin/env bash
# The Bazel consumer as a newcomer's first workspace would be: a copy of
# this example with no .bazelrc of its own, built with -Wall -Wextra. Fails
# on any compiler warning and on any output of an action besides
# linux-sandbox's debug lines, which Debian's /etc/bazel/bazelrc turns on
# for every workspace (--sandbox_debug; a consumer's own .bazelrc turns
# them off with `build --nosandbox_debug`, as README.md says). Offline.
#
#   examples/bazel-consumer/run_bare.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cplugin="$(cd "$here/../.." && pwd)"
work=$(mktemp -d)
cleanup() {
  if [[ -f "$work/ws/WORKSPACE" ]]; then
    (cd "$work/ws" && bazel clean --expunge >/dev/null 2>&1) || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/ws"
cp -r "$here/BUILD" "$here/main.c" "$here/proto" "$work/ws/"
# The relative paths of WORKSPACE, made absolute for the copy.
sed "s|\"\\.\\./\\.\\.|\"$cplugin|" "$here/WORKSPACE" > "$work/ws/WORKSPACE"
cd "$work/ws"

status=0
echo "== bazel-consumer (no .bazelrc): bazel build --copt=-Wall --copt=-Wextra"
bazel build --copt=-Wall --copt=-Wextra //:greeter > "$work/build.log" 2>&1 ||
  status=$?
if ((status == 0)); then
  bazel run //:greeter > "$work/run.log" 2>&1 || status=$?
fi
# Actions' own output: the lines under "INFO: From ..." that are not the
# sandbox's debug lines.
python3 - "$work/build.log" > "$work/chatter.log" <<'PY'
import re, sys
debug = re.compile(r"^\d+\.\d+: src/main/tools/linux-sandbox")
inside = False
for line in open(sys.argv[1], errors="replace"):
    line = line.rstrip("\n")
    if line.startswith("INFO: From "):
        inside, header = True, line
        continue
    if inside and (line.startswith(("INFO:", "[", "Target ", "  bazel-bin/"))
                   or line == ""):
        inside = False
    if inside and not debug.match(line):
        print(header + " | " + line)
PY
warnings=$(grep -c 'warning:' "$work/build.log" || true)
chatter=$(wc -l < "$work/chatter.log")
debug=$(grep -cE '^[0-9]+\.[0-9]+: src/main/tools/linux-sandbox' \
  "$work/build.log" || true)
echo "bazel-consumer (no .bazelrc): $warnings compiler warnings," \
  "$chatter lines of action output, $debug sandbox debug lines" \
  "(Debian's --sandbox_debug, not cplugin's)"
if ((status != 0)); then
  tail -n 40 "$work/build.log" "$work/run.log" 2>/dev/null >&2 || true
elif ((warnings > 0 || chatter > 0)); then
  grep 'warning:' "$work/build.log" >&2 || true
  head -n 40 "$work/chatter.log" >&2
  status=1
fi
(bazel shutdown >/dev/null 2>&1) || true
if ((status == 0)); then
  echo "bazel-consumer (no .bazelrc): PASS"
else
  echo "bazel-consumer (no .bazelrc): FAIL" >&2
fi
exit "$status"
