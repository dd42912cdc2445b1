#!/usr/bin/env bash
# A real Prometheus (Debian's) scrapes a cplugin program and evaluates the
# alert rules over what it scraped:
#   prometheus_scrape_test.sh METRICS_HOST ALERTS_YML [CPLUGIN_HOST]
# METRICS_HOST is tests/metrics/metrics_host.c built; ALERTS_YML is
# docs/alerts.yml; CPLUGIN_HOST a cp_host program (urlshortener-host).
# Everything binds 127.0.0.1 on free ports; everything started here is
# stopped on exit. Checks: (a) up == 1; (b) the scraped counters equal the
# calls the host made; (c) both alert expressions evaluate to finite numbers
# over the scraped samples (and the full rules evaluate); (d) /api/v1/rules
# lists the alerts; (e) with CPLUGIN_HOST: its bytes per structure and its
# sweep timestamps are scraped, recent, and no sweeper alert is active.
set -euo pipefail

host_bin=$1
rules=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
cplugin_host=${3:-}
prometheus=${PROMETHEUS:-prometheus}
python=/usr/bin/python3
# The shared wait helper (wait_for): from the runfiles under `bazel test`
# (where this script runs as a symlink named after the test), else next to
# this script in the source tree.
if [[ -n ${TEST_SRCDIR:-} ]]; then
  source "$TEST_SRCDIR/$TEST_WORKSPACE/tests/support/wait.sh"
else
  source "$(dirname "${BASH_SOURCE[0]}")/../support/wait.sh"
fi
# Reads from the host are bounded by the same default deadline.
read_secs=$(((${CPLUGIN_TEST_WAIT_MS:-30000} + 999) / 1000))

tmp=$(mktemp -d)
prom_pid=
host_pid=
cp_pid=
cleanup() {
  local rc=$?
  set +e
  if [[ -n "$cp_pid" ]]; then
    kill "$cp_pid" 2>/dev/null
    wait "$cp_pid" 2>/dev/null
  fi
  if [[ -n "$prom_pid" ]]; then
    kill "$prom_pid" 2>/dev/null
    wait "$prom_pid" 2>/dev/null
  fi
  if [[ -n "$host_pid" ]]; then
    kill "$host_pid" 2>/dev/null
    wait "$host_pid" 2>/dev/null
  fi
  if ((rc != 0)) && [[ -f "$tmp/prometheus.log" ]]; then
    echo "--- prometheus log (tail)"
    tail -n 30 "$tmp/prometheus.log"
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

command -v "$prometheus" >/dev/null ||
  fail "prometheus is not installed (bash tools/install-deps.sh)"

# --- the cplugin program ------------------------------------------------------
coproc HOST { exec "$host_bin"; }
host_pid=$HOST_PID
host_out=${HOST[0]}
host_in=${HOST[1]}

last_line="(nothing yet)"
read_line() { # read_line VAR: next host line, bounded by the deadline
  local got
  IFS= read -r -t "$read_secs" got <&"$host_out" ||
    fail "no line from the host within $read_secs s (exited, or silent); last line: $last_line"
  last_line=$got
  printf -v "$1" '%s' "$got"
}

read_line line
[[ "$line" == METRICS\ * ]] || fail "unexpected first line: $line"
target=${line#METRICS }
echo "host serves metrics on $target"

curl -fsS "http://$target/healthz" | grep -qx ok || fail "/healthz"
curl -fsS "http://$target/readyz" | grep -qx ready || fail "/readyz"
curl -fsS "http://$target/metrics" >"$tmp/first.txt" || fail "/metrics"
grep -q '^# TYPE cplugin_token_validation_duration_seconds histogram$' \
  "$tmp/first.txt" || fail "/metrics lacks the token histogram"

# --- the cp_host (optional) ------------------------------------------------------
host_job=
if [[ -n "$cplugin_host" ]]; then
  CONNECTPLUGIN_DISABLE_TLS_WARNING=1 "$cplugin_host" >"$tmp/cp.out" \
    2>"$tmp/cp.err" &
  cp_pid=$!
  cp_metrics_line() { grep -q '^METRICS ' "$tmp/cp.out"; }
  wait_seen() { cat "$tmp/cp.out" "$tmp/cp.err"; }
  wait_for "the cp_host to print METRICS" 0 cp_metrics_line ||
    fail "the cp_host did not start"
  cp_target=127.0.0.1:$(sed -n 's/^METRICS //p' "$tmp/cp.out")
  echo "cp_host serves metrics on $cp_target"
  # Only the series (e) checks: (b) counts the metrics host's calls alone.
  host_job="
  - job_name: host
    static_configs:
      - targets: ['$cp_target']
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'cplugin_memory_bytes|cplugin_sweep_last_success_timestamp_seconds'
        action: keep"
fi

# --- Prometheus -------------------------------------------------------------------
free_port() {
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $rules
scrape_configs:
  - job_name: cplugin
    static_configs:
      - targets: ['$target']$host_job
EOF

# Ready, or exited (lost the port race).
prom_ready_or_gone() {
  ! kill -0 "$prom_pid" 2>/dev/null ||
    curl -fsS "http://127.0.0.1:$prom_port/-/ready" >/dev/null 2>&1
}
wait_seen() { tail -n 20 "$tmp/prometheus.log"; }
for attempt in 1 2 3; do
  prom_port=$(free_port)
  "$prometheus" --config.file="$tmp/prometheus.yml" \
    --storage.tsdb.path="$tmp/data" \
    --web.listen-address="127.0.0.1:$prom_port" \
    --log.level=warn >"$tmp/prometheus.log" 2>&1 &
  prom_pid=$!
  api=http://127.0.0.1:$prom_port/api/v1
  wait_for "prometheus on port $prom_port to be ready" 0 prom_ready_or_gone ||
    fail "prometheus did not get ready"
  kill -0 "$prom_pid" 2>/dev/null && break
  wait "$prom_pid" || true # lost the port race: try another
  prom_pid=
done
[[ -n "$prom_pid" ]] || fail "prometheus did not start"
echo "prometheus on 127.0.0.1:$prom_port"

# query EXPR: prints "<resultType> <n results> <first value>", or fails.
query() {
  curl -fsS -G "$api/query" --data-urlencode "query=$1" | "$python" -c '
import json, sys
r = json.load(sys.stdin)
if r.get("status") != "success":
    sys.exit("query failed: %s" % r)
d = r["data"]
vals = d["result"]
first = vals[0]["value"][1] if d["resultType"] == "vector" and vals else "-"
print(d["resultType"], len(vals), first)
'
}

# query_is EXPR VALUE: the query's first value equals VALUE (the last answer
# is kept in $got for wait_seen).
got=
query_is() {
  got=$(query "$1" 2>&1) || return 1
  [[ "$got" == "vector 1 $2" ]]
}
# wait_query EXPR VALUE: until Prometheus has scraped and answers VALUE.
wait_query() {
  want_expr=$1 want_value=$2
  wait_seen() { echo "$want_expr: got '$got', want 'vector 1 $want_value'"; }
  wait_for "$1 = $2" 0 query_is "$1" "$2" || fail "$1: got '$got', want '$2'"
}

# (a) the target is up: a scrape succeeded.
wait_query 'up{job="cplugin"}' 1
echo "ok: up{job=\"cplugin\"} = 1"

# Two batches of calls, each seen by Prometheus before the next, so rate()
# has an increase to work with.
declare -A expect
for batch in 1 2; do
  echo traffic >&"$host_in"
  while read_line line; do
    case "$line" in
      EXPECT\ *)
        rest=${line#EXPECT }
        expect["${rest% *}"]=${rest##* }
        ;;
      "BATCH $batch") break ;;
      *) fail "unexpected host line: $line" ;;
    esac
  done
  wait_query 'sum(cplugin_requests_total)' "${expect[sum(cplugin_requests_total)]}"
done

# (b) every scraped count equals what the host did.
for sel in "${!expect[@]}"; do
  wait_query "$sel" "${expect[$sel]}"
  echo "ok: $sel = ${expect[$sel]}"
done

# (c) the alert expressions, without their thresholds, give finite numbers
# over the scraped samples; with them, they evaluate without error.
is_finite() { "$python" -c 'import math, sys; v = float(sys.argv[1]); sys.exit(0 if math.isfinite(v) else 1)' "$1"; }
p99='histogram_quantile(0.99, rate(cplugin_token_validation_duration_seconds_bucket[5m]))'
ratio='sum(rate(cplugin_rate_limit_denials_total[5m])) / sum(rate(cplugin_requests_total[5m]))'
for expr in "$p99" "$ratio"; do
  read -r type n value < <(query "$expr")
  [[ "$type" == vector && "$n" -ge 1 ]] || fail "$expr: $type with $n results"
  is_finite "$value" || fail "$expr = $value (not finite)"
  echo "ok: $expr = $value"
done
# Two of every ten calls were denied.
"$python" -c 'import sys; v = float(sys.argv[1]); sys.exit(0 if 0.15 < v < 0.25 else 1)' \
  "$(query "$ratio" | cut -d' ' -f3)" || fail "denial ratio is not 0.2"
for expr in "($p99) > 0.005" "($ratio) > 0.05"; do
  query "$expr" >/dev/null
done

# (d) Prometheus loaded both alerting rules from docs/alerts.yml.
curl -fsS "$api/rules?type=alert" | "$python" -c '
import json, sys
r = json.load(sys.stdin)
names = {rule["name"] for g in r["data"]["groups"] for rule in g["rules"]}
want = {"HighTokenValidationLatency", "HighRateLimitDenialRate",
        "HostSweeperStalled", "HostStructureMemoryGrowing",
        "HostResidentMemoryGrowing"}
missing = want - names
if missing:
    sys.exit("rules missing: %s (have %s)" % (sorted(missing), sorted(names)))
bad = [rule["name"] for g in r["data"]["groups"] for rule in g["rules"]
       if rule.get("health") == "err"]
if bad:
    sys.exit("rules failing to evaluate: %s" % bad)
print("ok: /api/v1/rules lists", ", ".join(sorted(want)))
'

# The denial rate (20 %) is over the threshold: that alert must go pending.
state=
denial_alert_active() {
  state=$(curl -fsS "$api/alerts" | "$python" -c '
import json, sys
alerts = json.load(sys.stdin)["data"]["alerts"]
print(" ".join(a["labels"]["alertname"] + "=" + a["state"] for a in alerts))
') || return 1
  [[ "$state" == *HighRateLimitDenialRate=* ]]
}
wait_seen() { echo "alerts: '$state'"; }
wait_for "the HighRateLimitDenialRate alert" 0 denial_alert_active ||
  fail "HighRateLimitDenialRate not active: '$state'"
echo "ok: alerts: $state"

# (e) the cp_host's operator views: a series per structure (identities and
# tables hold bytes from the start), sweep timestamps within the last two
# minutes, and no sweeper alert.
if [[ -n "$cplugin_host" ]]; then
  for structure in tokens rate_limit_buckets registry router_targets \
    stream_queues; do
    wait_query "count(cplugin_memory_bytes{job=\"host\",structure=\"$structure\"})" 1
  done
  for structure in tokens rate_limit_buckets registry; do
    wait_query "count(cplugin_memory_bytes{job=\"host\",structure=\"$structure\"} > 0)" 1
  done
  for sweeper in tokens rate_limit_buckets registry_liveness; do
    wait_query "count(time() - cplugin_sweep_last_success_timestamp_seconds{job=\"host\",sweeper=\"$sweeper\"} < 120)" 1
  done
  echo "ok: the cp_host's bytes per structure and sweep timestamps"
  [[ "$state" != *HostSweeperStalled* ]] ||
    fail "HostSweeperStalled is active: '$state'"
fi

echo quit >&"$host_in"
wait "$host_pid" || fail "the host exited with an error"
host_pid=
echo "prometheus scrape test: passed"
