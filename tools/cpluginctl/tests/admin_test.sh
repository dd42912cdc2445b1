#!/usr/bin/env bash
# cpluginctl's admin commands, real processes end to end: urlshortener-host
# launches logger and storage from a manifest and serves its admin service
# with --admin-key; cpluginctl status / registry list / plugins / watch
# talk to it:
#   - plugins add api --entry FILE adds the third plugin, which the
#     manifest does not list; a second add, a name that is not the entry's
#     and an unprovided requirement are refused (exit 1);
#   - status prints the three plugins RUNNING; without a key exit 1
#     UNAUTHENTICATED, with a wrong one too; usage errors exit 2;
#   - a plugin killed with SIGKILL comes back and status shows restarts 1
#     under a new pid and runtime ID;
#   - plugins remove / add / restart / replace, and their refusals (exit 1,
#     the gRPC status and the launcher's reason on stderr);
#   - registry list shows the three registrations;
#   - limits shows the host's rate-limit rules, the default last;
#   - watch TYPE prints the current answer (--count 1), and follows a
#     removal and an add until it is interrupted with SIGINT (exit 0).
# Usage: admin_test.sh CPLUGINCTL URLSHORTENER_HOST LOGGER STORAGE API
set -uo pipefail
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
ctl=$(abs "$1")
host_bin=$(abs "$2")
logger=$(abs "$3")
storage=$(abs "$4")
api=$(abs "$5")
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

key=operator-key-0123456789abcdef
entry() { # name path requires
  local e="{\"name\": \"$1\", \"path\": \"$2\", \"provides\": [{\"type\": \"$1\", \"version\": \"1.0.0\"}]"
  if [[ -n $3 ]]; then
    e+=", \"requires\": [{\"type\": \"$3\", \"required_for_startup\": true, \"watch_for_changes\": true}]"
  fi
  echo "$e}"
}
cat >"$work/manifest.json" <<JSON
{"version": 1, "plugins": [
  $(entry logger "$logger" ""),
  $(entry storage "$storage" logger)
]}
JSON

"$host_bin" --manifest "$work/manifest.json" --admin-key "$key" \
  >"$work/host.out" 2>"$work/host.err" &
pids+=($!)
host_pid=$!
wait_seen() { tail -5 "$work/host.err"; cat "$work/host.out"; }
wait_for "the host to listen" 0 grep -q '^LISTENING ' "$work/host.out" || exit 1
addr=$(sed -n 's/^LISTENING //p' "$work/host.out")

# The plugin's row of `status` ($1 = name), or nothing.
row() { "$ctl" status --host "$addr" --api-key "$key" | awk -v n="$1" '$1 == n'; }
field() { row "$1" | awk -v f="$2" '{print $f}'; } # 2 STATE 3 PID 4 RESTARTS 5 HEALTH 6 RUNTIME_ID

# --- plugins add --entry: api is not in the manifest --------------------
entry api "$api" storage >"$work/api.json"
"$ctl" plugins add api --entry "$work/api.json" --host "$addr" --api-key "$key" >"$work/out" 2>"$work/err"
rc=$?
[[ $rc -eq 0 ]] && grep -q "^plugins add api: ok (api-[0-9a-f]*, pid [1-9][0-9]*, unix:/" "$work/out" ||
  fail "plugins add --entry exited $rc: $(cat "$work/out" "$work/err")"
"$ctl" plugins add api --entry "$work/api.json" --host "$addr" --api-key "$key" >/dev/null 2>"$work/err"
rc=$?
[[ $rc -eq 1 ]] && grep -q "ALREADY_EXISTS" "$work/err" ||
  fail "a second add exited $rc: $(cat "$work/err")"
"$ctl" plugins add audit --entry "$work/api.json" --host "$addr" --api-key "$key" >/dev/null 2>"$work/err"
rc=$?
[[ $rc -eq 1 ]] && grep -q 'INVALID_ARGUMENT: entry: its name is "api", not "audit"' "$work/err" ||
  fail "add with another name exited $rc: $(cat "$work/err")"
entry audit "$api" nothing >"$work/audit.json"
"$ctl" plugins add audit --entry "$work/audit.json" --host "$addr" --api-key "$key" >/dev/null 2>"$work/err"
rc=$?
[[ $rc -eq 1 ]] && grep -q 'INVALID_ARGUMENT: .*"nothing"' "$work/err" ||
  fail "add with an unprovided requirement exited $rc: $(cat "$work/err")"
[[ -z $(row audit) ]] || fail "a refused add is listed: $(row audit)"

# --- status -------------------------------------------------------------
"$ctl" status --host "$addr" --api-key "$key" >"$work/status" 2>"$work/err"
rc=$?
[[ $rc -eq 0 ]] || fail "status exited $rc: $(cat "$work/err")"
grep -q '^NAME  *STATE  *PID  *RESTARTS  *HEALTH  *RUNTIME_ID  *REASON$' "$work/status" ||
  fail "status: no table header: $(cat "$work/status")"
for p in logger storage api; do
  awk -v n=$p '$1 == n && $2 == "RUNNING" && $3 > 0 && $4 == 0 && $5 == "HEALTHY" && index($6, n "-") == 1' \
    "$work/status" | grep -q . || fail "status: $p is not RUNNING: $(cat "$work/status")"
done
# The key from the environment.
CPLUGIN_ADMIN_KEY=$key "$ctl" status --host "$addr" >/dev/null 2>&1 ||
  fail "status with CPLUGIN_ADMIN_KEY failed"

# --- who may call -------------------------------------------------------
"$ctl" status --host "$addr" --api-key wrong-key-0123456789abcdef >"$work/out" 2>"$work/err"
rc=$?
[[ $rc -eq 1 ]] || fail "status with a wrong key exited $rc, want 1"
grep -q UNAUTHENTICATED "$work/err" || fail "wrong key: $(cat "$work/err")"
env -u CPLUGIN_ADMIN_KEY "$ctl" status --host "$addr" >"$work/out" 2>"$work/err"
rc=$?
[[ $rc -eq 2 ]] || fail "status without a key exited $rc, want 2 (usage)"
# A plugin's kind of credential: a runtime token (cpluginctl handshake with
# the admin key still yields a token, which is not a principal). Checked
# with grpcio in tests/interop/py_admin_test.py; here the usage errors.
for bad in "status" "plugins frob x --host $addr --api-key $key" \
  "watch --host $addr --api-key $key" "registry show --host $addr --api-key $key"; do
  # shellcheck disable=SC2086
  "$ctl" $bad >/dev/null 2>"$work/err"
  rc=$?
  [[ $rc -eq 2 ]] || fail "cpluginctl $bad exited $rc, want 2"
  grep -q "usage: cpluginctl" "$work/err" || fail "cpluginctl $bad: no usage"
done

# --- a killed plugin comes back: restarts 1 -----------------------------
old_pid=$(field storage 3)
old_id=$(field storage 6)
kill -KILL "$old_pid"
restarted() {
  local r
  r=$(row storage)
  [[ $(awk '{print $2, $4, $5}' <<<"$r") == "RUNNING 1 HEALTHY" ]] &&
    [[ $(awk '{print $3}' <<<"$r") != "$old_pid" ]]
}
wait_seen() { "$ctl" status --host "$addr" --api-key "$key"; }
wait_for "storage to come back with restarts 1" 0 restarted ||
  fail "storage did not come back"
[[ $(field storage 6) != "$old_id" ]] || fail "storage kept its runtime ID"

# --- registry list ------------------------------------------------------
"$ctl" registry list --host "$addr" --api-key "$key" >"$work/reg" 2>"$work/err" ||
  fail "registry list failed: $(cat "$work/err")"
for p in api logger storage; do
  id=$(field $p 6)
  awk -v t=$p -v id="$id" '$1 == t && $3 == id && $5 == "yes"' "$work/reg" | grep -q . ||
    fail "registry list: no routable $p by $id: $(cat "$work/reg")"
done
"$ctl" registry list storage --host "$addr" --api-key "$key" >"$work/reg" 2>&1
[[ $(grep -c '^storage ' "$work/reg") -eq 1 && $(wc -l <"$work/reg") -eq 2 ]] ||
  fail "registry list storage: $(cat "$work/reg")"

# --- limits: the host's rate-limit table --------------------------------
"$ctl" limits --host "$addr" --api-key "$key" >"$work/limits" 2>"$work/err" ||
  fail "limits failed: $(cat "$work/err")"
grep -q '^rate limits: on;' "$work/limits" || fail "limits: $(cat "$work/limits")"
awk '$1 == "/connectplugin.v1.HandshakeService/Handshake" && $2 == "method" && $3 == 10 && $4 == 20' \
  "$work/limits" | grep -q . || fail "limits: no Handshake rule: $(cat "$work/limits")"
[[ $(tail -n 1 "$work/limits" | awk '{print $1, $2, $3, $4}') == "* default 1000 2000" ]] ||
  fail "limits: the default is not last: $(cat "$work/limits")"
"$ctl" limits --host "$addr" --api-key wrong-key-0123456789abcdef >/dev/null 2>"$work/err"
rc=$?
[[ $rc -eq 1 ]] && grep -q UNAUTHENTICATED "$work/err" ||
  fail "limits with a wrong key: exit $rc, $(cat "$work/err")"

# --- watch --count 1: the current answer --------------------------------
api_id=$(field api 6)
timeout 60 "$ctl" watch api --count 1 --host "$addr" --api-key "$key" >"$work/watch" 2>"$work/err"
rc=$?
[[ $rc -eq 0 ]] || fail "watch --count 1 exited $rc: $(cat "$work/err")"
[[ $(cat "$work/watch") == "EVENT api AVAILABLE $api_id /services/api/$api_id" ]] ||
  fail "watch --count 1 printed: $(cat "$work/watch")"

# --- a watch follows remove and add, until SIGINT -----------------------
"$ctl" watch api --host "$addr" --api-key "$key" >"$work/watch" 2>"$work/werr" &
watch_pid=$!
pids+=($watch_pid)
wait_seen() { cat "$work/watch" "$work/werr"; }
wait_for "the watch's first event" 0 grep -q AVAILABLE "$work/watch" || fail "no first event"

"$ctl" plugins remove api --host "$addr" --api-key "$key" >"$work/out" 2>"$work/err"
rc=$?
[[ $rc -eq 0 && $(cat "$work/out") == "plugins remove api: ok" ]] ||
  fail "plugins remove exited $rc: $(cat "$work/out" "$work/err")"
[[ $(field api 2) == STOPPED && $(field api 3) == 0 ]] || fail "api not STOPPED: $(row api)"
wait_for "the watch to see api go" 0 grep -q "^EVENT api UNAVAILABLE" "$work/watch" ||
  fail "the watch did not see api go"
# Removing it again: the launcher's refusal, exit 1.
"$ctl" plugins remove api --host "$addr" --api-key "$key" >/dev/null 2>"$work/err"
rc=$?
[[ $rc -eq 1 ]] && grep -q FAILED_PRECONDITION "$work/err" ||
  fail "second remove exited $rc: $(cat "$work/err")"
"$ctl" plugins add api --host "$addr" --api-key "$key" >/dev/null 2>"$work/err" ||
  fail "plugins add failed: $(cat "$work/err")"
new_api=$(field api 6)
[[ $(field api 2) == RUNNING && $new_api != "$api_id" ]] || fail "api not back: $(row api)"
wait_for "the watch to see the new api" 0 grep -q "^EVENT api AVAILABLE $new_api " "$work/watch" ||
  fail "the watch did not see api return"
kill -INT "$watch_pid"
wait "$watch_pid"
rc=$?
[[ $rc -eq 0 ]] || fail "watch after SIGINT exited $rc: $(cat "$work/werr")"

# --- restart and replace: a new identity; refusals ----------------------
before=$(field logger 6)
"$ctl" plugins restart logger --host "$addr" --api-key "$key" >/dev/null 2>"$work/err" ||
  fail "restart failed: $(cat "$work/err")"
after=$(field logger 6)
[[ $(field logger 2) == RUNNING && $after != "$before" ]] || fail "restart kept $before: $(row logger)"
"$ctl" plugins replace logger --path "$logger" --host "$addr" --api-key "$key" >/dev/null 2>"$work/err" ||
  fail "replace failed: $(cat "$work/err")"
[[ $(field logger 6) != "$after" ]] || fail "replace kept $after"
"$ctl" plugins replace logger --path /nonexistent/plugin --host "$addr" --api-key "$key" >/dev/null 2>"$work/err"
rc=$?
# The launcher's own code for a missing executable (CP_ENOTFOUND), its text.
[[ $rc -eq 1 ]] && grep -q "NOT_FOUND: .*/nonexistent/plugin" "$work/err" ||
  fail "replace with a bad path exited $rc: $(cat "$work/err")"
[[ $(field logger 2) == RUNNING ]] || fail "a failed replace stopped logger: $(row logger)"
"$ctl" plugins restart nope --host "$addr" --api-key "$key" >/dev/null 2>"$work/err"
rc=$?
[[ $rc -eq 1 ]] && grep -q NOT_FOUND "$work/err" || fail "restart nope exited $rc: $(cat "$work/err")"

kill -TERM "$host_pid"
wait "$host_pid"
rc=$?
[[ $rc -eq 0 ]] || fail "host exited $rc"
if ((failures > 0)); then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "PASS"
