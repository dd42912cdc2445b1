#!/usr/bin/env bash
# A real Prometheus (Debian's) scrapes a cplugin program and evaluates the
# alert rules over what it scraped:
#   prometheus_scrape_test.sh METRICS_HOST ALERTS_YML
# METRICS_HOST is tests/metrics/metrics_host.c built; ALERTS_YML is
# docs/alerts.yml. Everything binds 127.0.0.1 on free ports; everything
# started here is stopped on exit. Checks: (a) up == 1; (b) the scraped
# counters equal the calls the host made; (c) both alert expressions evaluate
# to finite numbers over the scraped samples (and the full rules evaluate);
# (d) /api/v1/rules lists both alerts.
set -euo pipefail

host_bin=$1
rules=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
prometheus=${PROMETHEUS:-prometheus}
python=/usr/bin/python3
deadline=$((SECONDS + 60))

tmp=$(mktemp -d)
prom_pid=
host_pid=
cleanup() {
  local rc=$?
  set +e
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

read_line() { # read_line VAR: next host line, bounded by the deadline
  local left=$((deadline - SECONDS))
  ((left > 0)) || fail "timed out waiting for the host"
  IFS= read -r -t "$left" "$1" <&"$host_out" || fail "the host stopped talking"
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
      - targets: ['$target']
EOF

for attempt in 1 2 3; do
  prom_port=$(free_port)
  "$prometheus" --config.file="$tmp/prometheus.yml" \
    --storage.tsdb.path="$tmp/data" \
    --web.listen-address="127.0.0.1:$prom_port" \
    --log.level=warn >"$tmp/prometheus.log" 2>&1 &
  prom_pid=$!
  api=http://127.0.0.1:$prom_port/api/v1
  while ((SECONDS < deadline)) && kill -0 "$prom_pid" 2>/dev/null; do
    curl -fsS "http://127.0.0.1:$prom_port/-/ready" >/dev/null 2>&1 && break
    sleep 0.2
  done
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

# wait_for EXPR VALUE: until the query's first value equals VALUE.
wait_for() {
  local got
  while ((SECONDS < deadline)); do
    got=$(query "$1")
    [[ "$got" == "vector 1 $2" ]] && return 0
    sleep 0.3
  done
  fail "$1: got '$got', want '$2'"
}

# (a) the target is up: a scrape succeeded.
wait_for 'up{job="cplugin"}' 1
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
  wait_for 'sum(cplugin_requests_total)' "${expect[sum(cplugin_requests_total)]}"
done

# (b) every scraped count equals what the host did.
for sel in "${!expect[@]}"; do
  wait_for "$sel" "${expect[$sel]}"
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
want = {"HighTokenValidationLatency", "HighRateLimitDenialRate"}
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
while ((SECONDS < deadline)); do
  state=$(curl -fsS "$api/alerts" | "$python" -c '
import json, sys
alerts = json.load(sys.stdin)["data"]["alerts"]
print(" ".join(a["labels"]["alertname"] + "=" + a["state"] for a in alerts))
')
  [[ "$state" == *HighRateLimitDenialRate=* ]] && break
  sleep 0.3
done
[[ "$state" == *HighRateLimitDenialRate=* ]] ||
  fail "HighRateLimitDenialRate not active: '$state'"
echo "ok: alerts: $state"

echo quit >&"$host_in"
wait "$host_pid" || fail "the host exited with an error"
host_pid=
echo "prometheus scrape test: passed"
