# Waiting in shell tests for what another process does (the shell side of
# wait.h). Source it, then:
#
#   wait_for "the host to listen" 30 grep -q '^LISTENING ' "$log"
#
# runs the command until it succeeds or the deadline (seconds; 0 means
# CPLUGIN_TEST_WAIT_MS, default 30 s) passes. On timeout it prints what it
# waited for, and the output of the `wait_seen` function when one is defined,
# to stderr and returns 1.

_wait_now_ms() {
  local ns
  ns=$(date +%s%N)
  echo $((ns / 1000000))
}

wait_for() {
  local what=$1 secs=$2
  shift 2
  local budget_ms=$((secs * 1000))
  if [[ $secs == 0 ]]; then
    budget_ms=${CPLUGIN_TEST_WAIT_MS:-30000}
  fi
  local until=$(($(_wait_now_ms) + budget_ms)) nap=0.01
  while true; do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    if (($(_wait_now_ms) >= until)); then
      echo "timed out after ${budget_ms} ms waiting for ${what}" >&2
      if declare -F wait_seen >/dev/null; then
        echo "last seen:" >&2
        wait_seen >&2 || true
      fi
      return 1
    fi
    sleep "$nap"
    case $nap in
      0.01) nap=0.02 ;;
      0.02) nap=0.05 ;;
      *) nap=0.1 ;;
    esac
  done
}
