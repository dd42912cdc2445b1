#!/usr/bin/env bash
# cpluginctl's command line and stdout contracts, with real processes:
#   - bad arguments exit 2 with a usage message on stderr;
#   - serve prints LISTENING <port> and METRICS <port>, and SERVED ok=<n>
#     after SIGTERM, where n counts the Echo calls answered OK;
#   - handshake prints RUNTIME_ID= and RUNTIME_TOKEN= that work;
#   - an unreachable target is a clear error with exit status 1;
#   - no child outlives `load`: not after SIGINT, not after SIGKILL.
# Usage: cli_test.sh path/to/cpluginctl
set -uo pipefail
ctl=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
# The shared wait helper (wait_for): from the runfiles under `bazel test`
# (where this script runs as a symlink named after the test), else next to
# this script in the source tree.
if [[ -n ${TEST_SRCDIR:-} ]]; then
  source "$TEST_SRCDIR/$TEST_WORKSPACE/tests/support/wait.sh"
else
  source "$(dirname "${BASH_SOURCE[0]}")/../../../tests/support/wait.sh"
fi
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# --- usage errors: exit 2, a reason and the usage on stderr -------------
expect_usage() {
  "$ctl" "$@" >"$work/out" 2>"$work/err"
  local rc=$?
  if [[ $rc -ne 2 ]]; then
    fail "cpluginctl $* exited $rc, want 2"
  elif ! grep -q "usage: cpluginctl" "$work/err"; then
    fail "cpluginctl $*: no usage on stderr"
  elif [[ -s "$work/out" ]]; then
    fail "cpluginctl $*: wrote to stdout"
  fi
}
expect_usage
expect_usage frobnicate
expect_usage load
expect_usage load --preset nope
expect_usage load --rate 0
expect_usage load --rate -3
expect_usage load --rate many
expect_usage load --rate 10 --duration 601
expect_usage load --rate 10 --bogus
expect_usage load --rate 10 --target 10.0.0.1:80
expect_usage load --rate 10 --target 0.0.0.0:80
expect_usage load --rate 10 --concurrency 2
expect_usage load --preset routed --target 127.0.0.1:1
expect_usage serve --listen 0.0.0.0:0
expect_usage serve --rate 0
expect_usage handshake
expect_usage handshake --target example.com:443
expect_usage provider --host 127.0.0.1:0
expect_usage provider --host 127.0.0.1:1 --delay-ms soon
expect_usage middle
expect_usage middle --host 127.0.0.1:1 --style async
expect_usage middle --host 127.0.0.1:1 --pool-threads 4
expect_usage load --preset fanout --rate 10
expect_usage load --preset fanout --target 127.0.0.1:1
expect_usage load --preset steady --middle pool

"$ctl" load --help >"$work/out" 2>&1 || fail "load --help exited non-zero"
grep -q -- "--preset" "$work/out" || fail "load --help shows no options"

# --- serve's stdout contract ---------------------------------------------
# Starts serve with the given options; sets port and out (its stdout file).
start_serve() {
  out="$work/serve.$RANDOM.out"
  "$ctl" serve --listen 127.0.0.1:0 "$@" >"$out" 2>>"$work/serve.err" &
  serve_pid=$!
  pids+=("$serve_pid")
  wait_seen() { serve_seen; }
  wait_for "serve's LISTENING line" 0 grep -Eq '^LISTENING [0-9]+$' "$out" ||
    { fail "serve printed no LISTENING line"; return 1; }
  port=$(sed -n 's/^LISTENING \([0-9][0-9]*\)$/\1/p' "$out")
}
# What serve has printed (for a timed-out wait).
serve_seen() {
  echo "serve stdout:"
  cat "$out"
  echo "serve stderr (tail):"
  tail -n 20 "$work/serve.err"
  kill -0 "$serve_pid" 2>/dev/null || echo "(serve has exited)"
}
# Stops serve; sets served (the n of SERVED ok=<n>).
stop_serve() {
  kill -TERM "$serve_pid"
  wait "$serve_pid" || fail "serve exited non-zero after SIGTERM"
  served=$(sed -n 's/^SERVED ok=\([0-9][0-9]*\)$/\1/p' "$out")
  [[ -n "$served" ]] || fail "serve printed no SERVED ok=<n> line"
}

start_serve --metrics-port 0 || exit 1
# LISTENING and METRICS are two writes (stdout is line-buffered).
has_two_lines() { [[ $(wc -l <"$out") -ge 2 ]]; }
wait_for "serve's second line" 0 has_two_lines
metrics_line=$(sed -n 2p "$out")
[[ "$metrics_line" =~ ^METRICS\ [0-9]+$ ]] ||
  fail "second line \"$metrics_line\" is not METRICS <port>"

# handshake: two shell-evaluable lines that make a working credential.
"$ctl" handshake --target "127.0.0.1:$port" --id clitest >"$work/hs" ||
  fail "handshake exited non-zero"
[[ $(wc -l <"$work/hs") -eq 2 ]] || fail "handshake printed $(wc -l <"$work/hs") lines"
grep -Eq '^RUNTIME_ID=clitest-[A-Za-z0-9._-]+$' "$work/hs" || fail "no RUNTIME_ID line"
grep -Eq '^RUNTIME_TOKEN=[A-Za-z0-9_-]+=*$' "$work/hs" || fail "no RUNTIME_TOKEN line"
(
  eval "$(cat "$work/hs")"
  [[ -n "$RUNTIME_ID" && -n "$RUNTIME_TOKEN" ]]
) || fail "handshake output does not evaluate in a shell"

# Five calls through the full chain: SERVED counts exactly them.
"$ctl" load --target "127.0.0.1:$port" --requests 5 --json "$work/five.json" \
  >"$work/load.out" 2>&1 || fail "load --requests 5 exited $?: $(cat "$work/load.out")"
grep -q '"OK": 5' "$work/five.json" || fail "the five calls were not all OK"
stop_serve
[[ "$served" == 5 ]] || fail "SERVED ok=$served, want 5"
dead_port=$port

# --chain off, metrics off: LISTENING and nothing else until SERVED.
start_serve --chain off --metrics-port off || exit 1
"$ctl" load --target "127.0.0.1:$port" --requests 3 >/dev/null 2>&1 ||
  fail "load against --chain off exited non-zero"
stop_serve
[[ "$served" == 3 ]] || fail "chain off: SERVED ok=$served, want 3"
[[ $(grep -c . "$out") -eq 2 ]] || fail "chain off printed: $(cat "$out")"
grep -q "METRICS" "$out" && fail "METRICS printed with --metrics-port off"

# --- unreachable targets: a clear error and exit status 1 ---------------
"$ctl" load --target "127.0.0.1:$dead_port" --requests 1 >/dev/null 2>"$work/err"
rc=$?
[[ $rc -eq 1 ]] || fail "load against a dead target exited $rc, want 1"
grep -q "handshake with 127.0.0.1:$dead_port" "$work/err" ||
  fail "no clear error for a dead target: $(cat "$work/err")"
"$ctl" handshake --target "127.0.0.1:$dead_port" >/dev/null 2>"$work/err"
[[ $? -eq 1 ]] || fail "handshake against a dead target did not exit 1"
"$ctl" provider --host "127.0.0.1:$dead_port" >/dev/null 2>"$work/err"
[[ $? -eq 1 ]] || fail "provider against a dead host did not exit 1"
"$ctl" provider --host "127.0.0.1:$dead_port" --delay-ms 50 >/dev/null \
  2>"$work/err"
[[ $? -eq 1 ]] || fail "delayed provider against a dead host did not exit 1"
for style in deferred pool blocking; do
  "$ctl" middle --host "127.0.0.1:$dead_port" --style "$style" >/dev/null \
    2>"$work/err"
  [[ $? -eq 1 ]] || fail "middle ($style) against a dead host did not exit 1"
  grep -q "cannot register with 127.0.0.1:$dead_port" "$work/err" ||
    fail "no clear error from middle ($style): $(cat "$work/err")"
done

# --- no orphans: SIGINT stops the run and the children; SIGKILL of load
# takes the children down too (PR_SET_PDEATHSIG) -------------------------
tagged() { grep -lasF "CPLUGINCTL_TEST_TAG=$1" /proc/[0-9]*/environ; }
# Pids and command lines of the processes carrying the tag.
show_tagged() {
  local f
  for f in $(tagged "$1"); do
    f=${f%/environ}
    echo "  pid ${f#/proc/}: $(tr '\0' ' ' <"$f/cmdline" 2>/dev/null)"
  done
}
# Waits until the run has started its children (it prints "handshaking"
# once the host, and the provider, are up).
wait_started() {
  seen_err=$work/$1.err
  wait_seen() { echo "load stderr:"; cat "$seen_err"; }
  wait_for "load ($1) to start its children" 0 grep -q "handshaking" "$work/$1.err"
}
# Waits until no process carries the tag.
wait_gone() {
  seen_tag=$1
  wait_seen() { echo "still running:"; show_tagged "$seen_tag"; }
  wait_for "every process tagged $1 to exit" 0 not_tagged "$1"
}
not_tagged() { ! tagged "$1" >/dev/null; }
# True when a process other than load (pid $2) carries the tag $1.
has_children() {
  local found
  found=$(tagged "$1")
  [[ -n $(grep -v "^/proc/$2/environ$" <<<"$found") ]]
}

# TCP ports a process listens on (from /proc: no ss or netstat needed).
listen_ports() {
  local inodes _ local_addr state inode
  inodes=" $(find "/proc/$1/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null |
    sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p' | tr '\n' ' ') "
  cat "/proc/$1/net/tcp" "/proc/$1/net/tcp6" 2>/dev/null |
    while read -r _ local_addr _ state _ _ _ _ _ inode _; do
      [[ $state == 0A && $inodes == *" $inode "* ]] &&
        echo $((16#${local_addr##*:}))
    done
}
# The metrics page of the host (serve) that the run tagged $1 started.
host_metrics() {
  local f pid port
  for f in $(tagged "$1"); do
    pid=${f#/proc/}
    pid=${pid%/environ}
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q '^cpluginctl serve ' ||
      continue
    for port in $(listen_ports "$pid"); do
      curl -fsS --max-time 5 "http://127.0.0.1:$port/metrics" 2>/dev/null &&
        return 0
    done
  done
  return 1
}
# True once the host has answered routed Echo calls (counted under the
# method "other"): the run is past the handshakes, in its load phase.
routed_calls_answered() {
  local page
  page=$(host_metrics "$1") &&
    grep -Eq '^cplugin_requests_total\{method="other",code="OK"\} [1-9]' <<<"$page"
}

CPLUGINCTL_TEST_TAG=sigint-$$ "$ctl" load --preset routed --plugins 2 \
  --rate 20 --duration 60 >"$work/sigint.out" 2>"$work/sigint.err" &
load_pid=$!
pids+=("$load_pid")
wait_started sigint || fail "the interrupted run never started"
has_children "sigint-$$" "$load_pid" || fail "the interrupted run has no children"
# SIGINT during the handshakes ends the run without a report: interrupt it
# once calls flow.
wait_seen() {
  echo "host metrics:"
  host_metrics "sigint-$$" | grep '^cplugin_requests_total' || echo "  (none)"
  echo "processes:"
  show_tagged "sigint-$$"
}
wait_for "routed calls answered by the run's host" 0 \
  routed_calls_answered "sigint-$$" || fail "the interrupted run sent no calls"
kill -INT "$load_pid"
wait "$load_pid"
rc=$?
[[ $rc -eq 130 ]] || fail "load after SIGINT exited $rc, want 130"
grep -q "interrupted" "$work/sigint.out" || fail "no interrupted report"
wait_gone "sigint-$$" || fail "children left running after SIGINT"

CPLUGINCTL_TEST_TAG=sigkill-$$ "$ctl" load --preset routed --plugins 2 \
  --rate 20 --duration 60 >/dev/null 2>"$work/sigkill.err" &
load_pid=$!
pids+=("$load_pid")
wait_started sigkill || fail "the killed run never started"
has_children "sigkill-$$" "$load_pid" || fail "the killed run has no children"
kill -KILL "$load_pid"
wait "$load_pid" 2>/dev/null
wait_gone "sigkill-$$" || fail "children left running after SIGKILL of load"

if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "cpluginctl cli: all checks passed"
