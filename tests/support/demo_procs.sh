# The background processes of the demo scripts (examples/*/run_demo.sh).
# Source it after wait.sh, with $work set to a directory for their output:
#
#   spawn NAME CMD...  runs CMD in the background, output in $work/NAME.out
#                      and $work/NAME.err
#   start NAME CMD...  spawn, then wait for its "LISTENING <address>" line;
#                      sets $address, or prints its stderr and returns 1
#   pid_of NAME        the PID of the process spawned as NAME
#   stop_all           SIGTERM to every process, newest first (plugins
#                      before their host: they unregister), then waits
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

stop_all() {
  local i pid
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  pids=()
  names=()
}
