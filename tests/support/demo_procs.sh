# The background processes of the demo scripts (examples/*/run_demo.sh).
# Source it after wait.sh, with $work set to a directory for their output:
#
#   spawn NAME CMD...  runs CMD in the background, output in $work/NAME.out
#                      and $work/NAME.err
#   start NAME CMD...  spawn, then wait for its "LISTENING <address>" line;
#                      sets $address, or prints its stderr and returns 1
#   pid_of NAME        the PID of the process spawned as NAME
#   stop_all           SIGTERM to every process, newest first (plugins
#                      before their host: they unregister), then waits;
#                      fails, naming it, if one outlives STOP_WAIT_S (20 s)
#   demo_cleanup       stop_all, then removes $work unless KEEP_DEMO is set
#                      (to read the processes' output afterwards); the
#                      demos' EXIT trap and their last step
#
# start runs in the caller's shell, not a subshell, so that the PID reaches
# `pids`.
pids=()
names=()

spawn() {
  local name=$1
  shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  names+=("$name")
}

pid_of() {
  local i
  for i in "${!names[@]}"; do
    [[ ${names[i]} == "$1" ]] && echo "${pids[i]}"
  done
}

listening_or_gone() {
  grep -q '^LISTENING ' "$work/$1.out" 2>/dev/null || ! kill -0 "$2" 2>/dev/null
}

start() {
  local name=$1
  spawn "$@"
  wait_seen() { cat "$work/$name.out" "$work/$name.err"; }
  wait_for "$name to print LISTENING" 0 listening_or_gone "$name" "${pids[-1]}" ||
    true
  address=$(sed -n 's/^LISTENING //p' "$work/$name.out")
  if [[ -n "$address" ]]; then
    return 0
  fi
  echo "demo: $name did not start:" >&2
  cat "$work/$name.err" >&2
  return 1
}

# True while PID runs (a zombie has finished: its parent just has not
# reaped it yet).
running() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

# What a process that does not stop is doing: the end of its stderr and,
# when gdb is installed, every thread's stack.
report_stuck() {
  local name=$1 pid=$2
  echo "demo: $name (pid $pid) still runs ${STOP_WAIT_S:-20} s after SIGTERM;" \
    "its stderr ends:" >&2
  tail -n 20 "$work/$name.err" >&2 || true
  if command -v gdb >/dev/null; then
    echo "demo: the threads of $name:" >&2
    timeout 30 gdb -q -batch -p "$pid" -ex 'thread apply all bt' 2>&1 |
      grep -E '^(Thread|#)' | head -n 200 >&2 || true
  fi
}

# Returns 1, after killing it, when a process outlives STOP_WAIT_S (20 s):
# a demo that does not stop fails and says who, instead of hanging.
stop_all() {
  local i pid rc=0 until
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
  done
  until=$(($(_wait_now_ms) + ${STOP_WAIT_S:-20} * 1000))
  for i in "${!pids[@]}"; do
    pid=${pids[i]}
    while running "$pid" && (($(_wait_now_ms) < until)); do
      sleep 0.05
    done
    if running "$pid"; then
      report_stuck "${names[i]}" "$pid"
      kill -KILL "$pid" 2>/dev/null || true
      rc=1
    fi
    wait "$pid" 2>/dev/null || true
  done
  pids=()
  names=()
  return $rc
}

demo_cleanup() {
  local rc=0
  trap - EXIT # once: the last step, or the trap when the demo ends early
  stop_all || rc=$?
  if [[ -n ${KEEP_DEMO:-} ]]; then
    echo "demo: output kept in $work" >&2
  else
    rm -rf "$work"
  fi
  return $rc
}
