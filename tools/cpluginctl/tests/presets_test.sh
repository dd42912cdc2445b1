#!/usr/bin/env bash
# A short run of every `cpluginctl load` preset, each starting its own host
# (and provider), checking behaviour only — the statuses and the report's
# fields — never timing:
#   steady     every call OK; the host's SERVED count equals the client's OK
#   burst      only OK and RESOURCE_EXHAUSTED, at least one of each
#   burst-tls  the same against a host serving TLS with the certificate the
#              run made (the started host's command line names it)
#   ratelimit  more RESOURCE_EXHAUSTED than OK, nothing else
#   handshake-flood  200 Handshakes at once against 10/s burst 20: between
#              1 and 20 + 10/s x the volley's length OK, the rest
#              RESOURCE_EXHAUSTED, nothing else; the host ran no Echo
#   routed     every routed and every direct call OK; the provider's SERVED
#              count equals them
#   fanout     for each middle style (deferred, pool, blocking): OK calls,
#              nothing but OK (and RESOURCE_EXHAUSTED from the host's
#              per-caller routed limit, which 8 calls in flight never
#              reach); the middle's and the provider's SERVED counts equal
#              the client's OK; the style's ceiling reported
#   fleet      40 plugins joining over 2 s, then 2 s of calls: every plugin
#              joined and its watch delivered the dependency's AVAILABLE
#              event and stayed open; every call OK; the host's CPU and RSS
#              sampled (ramp, hold and close samples, RSS > 0)
#   bidi       2 s, 2 streams of each kind: routed and direct phases each
#              with echoed messages, nothing but OK, every stream ended OK;
#              the provider's SERVED count equals the echoes plus one
#              warm-up message per stream
# Usage: presets_test.sh path/to/cpluginctl
set -uo pipefail
ctl=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
py=/usr/bin/python3
failures=0

run() {
  local name=$1
  shift
  echo "--- $name: cpluginctl load $*"
  # A tag in the environment, inherited by the started host and provider,
  # finds any of them still running afterwards.
  local tag="cpluginctl-presets-$$-$name"
  CPLUGINCTL_TEST_TAG=$tag "$ctl" load "$@" --json "$work/$name.json" \
    >"$work/$name.out" 2>&1
  local rc=$?
  cat "$work/$name.out"
  if [[ $rc -ne 0 ]]; then
    echo "FAIL: $name exited $rc" >&2
    failures=$((failures + 1))
    return 1
  fi
  # No child may be left behind. Checked at once, not waited for: load
  # reaps (waitpid) the host and the provider before it exits.
  local left f
  left=$(grep -lasF "CPLUGINCTL_TEST_TAG=$tag" /proc/[0-9]*/environ)
  if [[ -n $left ]]; then
    echo "FAIL: $name left a serve/provider process running:" >&2
    for f in $left; do
      echo "  pid $(basename "$(dirname "$f")"): $(tr '\0' ' ' <"${f%/environ}/cmdline" 2>/dev/null)" >&2
    done
    failures=$((failures + 1))
  fi
  "$py" - "$name" "$work/$name.json" <<'PY' || failures=$((failures + 1))
import json, sys
name, path = sys.argv[1], sys.argv[2]
r = json.load(open(path))
problems = []
def need(cond, what):
    if not cond:
        problems.append(what)
for ph in r["phases"] + [r["total"]]:
    for key in ("name", "scheduled", "sent", "achieved_rate", "dropped_inflight",
                "send_errors", "completed", "statuses", "latency_ms"):
        need(key in ph, "%s: phase %s has no %s" % (name, ph.get("name"), key))
    for which in ("ok", "all"):
        for q in ("count", "p50", "p95", "p99", "p999", "max", "mean"):
            need(q in ph["latency_ms"][which], "%s: no latency %s.%s" % (name, which, q))
    need(ph["sent"] + ph["dropped_inflight"] + ph["send_errors"] == ph["scheduled"],
         "%s: %s: sent + dropped + errors != scheduled" % (name, ph["name"]))
    need(ph["completed"] == ph["sent"], "%s: %s: completed %d != sent %d"
         % (name, ph["name"], ph["completed"], ph["sent"]))
    need(sum(ph["statuses"].values()) == ph["completed"],
         "%s: %s: statuses do not add up" % (name, ph["name"]))
total = r["total"]["statuses"]
ok = total.get("OK", 0)
limited = total.get("RESOURCE_EXHAUSTED", 0)
other = {k: v for k, v in total.items() if k not in ("OK", "RESOURCE_EXHAUSTED")}
need(r["checks"], "%s: no checks reported" % name)
need(all(c["pass"] for c in r["checks"] if c["kind"] == "behaviour"),
     "%s: a behaviour check failed" % name)
if name == "steady":
    need(ok > 0 and limited == 0 and not other, "steady: not all OK: %s" % total)
    need(r["served"]["host_ok"] == ok, "steady: host SERVED %s != client OK %d"
         % (r["served"]["host_ok"], ok))
elif name in ("burst", "burst-tls"):
    need([p["name"] for p in r["phases"]] == ["ramp", "hold"], "%s: phases" % name)
    need(ok > 0 and limited > 0 and not other, "%s: statuses %s" % (name, total))
elif name == "ratelimit":
    need(limited > ok > 0 and not other, "ratelimit: statuses %s" % total)
elif name == "handshake-flood":
    need(limited > ok > 0 and not other, "handshake-flood: statuses %s" % total)
    need(ok <= 20 + 10 * r["wall_s"] + 1, "handshake-flood: %d admitted in %.3f s"
         % (ok, r["wall_s"]))
    need(r["served"]["host_ok"] == 0, "handshake-flood: Echo was called")
elif name == "routed":
    need([p["name"] for p in r["phases"]] == ["routed", "direct"], "routed: phases")
    for p in r["phases"]:
        s = p["statuses"]
        need(p["completed"] > 0 and s.get("OK", 0) == p["completed"],
             "routed: %s not all OK: %s" % (p["name"], s))
    need(r["served"]["provider_ok"] == ok, "routed: provider SERVED %s != OK %d"
         % (r["served"]["provider_ok"], ok))
    need(r["served"]["host_ok"] == 0, "routed: the host answered Echo itself")
elif name == "bidi":
    need(r["mode"] == "bidi ping-pong", "bidi: mode %s" % r["mode"])
    need([p["name"] for p in r["phases"]] == ["routed", "direct"], "bidi: phases")
    for p in r["phases"]:
        s = p["statuses"]
        need(p["sent"] > 0 and s.get("OK", 0) == p["sent"],
             "bidi: %s: %d sent, statuses %s" % (p["name"], p["sent"], s))
        need(p["ok_rate"] > 0, "bidi: %s: no messages/s" % p["name"])
        need(p["streams"] == 2 and p["streams_ok"] == 2,
             "bidi: %s: streams %s, ended OK %s (%s)" % (p["name"], p["streams"],
                                                        p["streams_ok"], p["stream_error"]))
        need(p["latency_ms"]["ok"]["count"] == p["sent"], "bidi: %s: latency count" % p["name"])
    warm = r["bidi"]["warmup_messages"]
    need(warm == 4, "bidi: warm-up messages %s" % warm)
    need(r["served"]["provider_ok"] == ok + warm, "bidi: provider SERVED %s != OK %d + %d"
         % (r["served"]["provider_ok"], ok, warm))
    need(r["served"]["host_ok"] == 0, "bidi: the host answered Chat itself")
elif name == "fleet":
    f = r["fleet"]
    need(f["plugins"] == 40 and f["joined"] == 40, "fleet: joined %s" % f["joined"])
    need(f["first_events"] == 40 and f["ended_early"] == 0,
         "fleet: first events %s, ended early %s (%s)"
         % (f["first_events"], f["ended_early"], f["first_end"]))
    need(ok > 0 and not other and limited == 0, "fleet: statuses %s" % total)
    need(r["served"]["host_ok"] == ok, "fleet: host SERVED %s != OK %d"
         % (r["served"]["host_ok"], ok))
    phases = [s["phase"] for s in f["samples"]]
    need(phases and phases[0] == "ramp" and "hold" in phases and phases[-1] == "close",
         "fleet: sample phases %s" % phases)
    need(all(s["rss_bytes"] > 0 for s in f["samples"]), "fleet: a sample without RSS")
    need(f["samples"][-1]["plugins"] == 40, "fleet: last sample's plugins")
    need(f["rss_held_bytes"] > 0 and f["bytes_per_plugin"] >= 0, "fleet: memory figures")
elif name.startswith("fanout-"):
    style = name[len("fanout-"):]
    need([p["name"] for p in r["phases"]] == [style], "%s: phases" % name)
    need(r["mode"] == "closed loop", "%s: mode %s" % (name, r["mode"]))
    need(ok > 0 and not other and limited == 0, "%s: statuses %s" % (name, total))
    need(r["total"]["ok_in_window"] > 0, "%s: no OK call in the window" % name)
    f = r.get("fanout", {})
    need(f.get("middle") == style, "%s: fanout.middle %s" % (name, f.get("middle")))
    # The ceiling is the style's arithmetic: 8 in flight, 50 ms; pool 4, 2 threads.
    want = {"deferred": 160.0, "pool": 80.0, "blocking": 40.0}[style]
    need(abs(f.get("ceiling", 0) - want) < 1e-6,
         "%s: ceiling %s != %s" % (name, f.get("ceiling"), want))
    need(r["served"]["middle_ok"] == ok, "%s: middle SERVED %s != OK %d"
         % (name, r["served"]["middle_ok"], ok))
    need(r["served"]["provider_ok"] == ok, "%s: provider SERVED %s != OK %d"
         % (name, r["served"]["provider_ok"], ok))
    need(r["served"]["host_ok"] == 0, "%s: the host answered Echo itself" % name)
for p in problems:
    print("FAIL:", p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
}

run steady --preset steady --plugins 20 --duration 2
run burst --preset burst --plugins 20 --rate 1000 --duration 3
run burst-tls --preset burst-tls --plugins 20 --rate 1000 --duration 3 &&
  if ! grep -q -- 'cpluginctl serve .*--tls-cert /tmp/cpluginctl-tls-' \
    "$work/burst-tls.out"; then
    echo "FAIL: burst-tls: the started host did not serve TLS" >&2
    failures=$((failures + 1))
  fi
run ratelimit --preset ratelimit
run handshake-flood --preset handshake-flood --requests 200
run routed --preset routed --plugins 10 --rate 100 --duration 2
run fanout-deferred --preset fanout --plugins 2 --concurrency 8 --duration 2
run fanout-pool --preset fanout --middle pool --pool-threads 4 --plugins 2 \
  --concurrency 8 --duration 2
run fanout-blocking --preset fanout --middle blocking --plugins 2 \
  --concurrency 8 --duration 2
run bidi --preset bidi --streams 2 --duration 2
run fleet --preset fleet --plugins 40 --ramp 2 --duration 2

if [[ $failures -gt 0 ]]; then
  echo "$failures preset check(s) failed" >&2
  exit 1
fi
echo "cpluginctl presets: all checks passed"
