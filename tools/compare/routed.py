#!/usr/bin/env python3
"""Routed unary calls through a cplugin host against the same calls sent
straight to the provider, with h2load, in one run.

Per round, a fresh `cpluginctl serve --provider-type load` (the full chain:
auth, rate limit far above the load, metrics) and a `cpluginctl provider
--type load` registered with it. Then, at 1x1 and at 4x32 (h2load -c/-m),
the two kinds of measurement in alternating order (routed first in odd
rounds, direct first in even ones):

  routed  h2load -> host, /cplugin.load.v1.LoadService/Echo with the
          caller's token and `x-cplugin-service-type: load`: the host
          authenticates, resolves the provider and forwards the call.
  direct  h2load -> provider, the same method and body with only
          `x-plugin-caller-id` (what the router sends the provider).

Each measurement warms up with a fixed count, then runs about --duration
seconds' worth of calls (a count, as compare.py does: h2load counts gRPC
errors as HTTP 200, so the round passes only when the provider's
`SERVED ok=<n>` equals every h2load success of the round and the host
answered none itself). Reported per measurement: calls/s, h2load's mean
latency, the host's and the provider's CPU per call (from /proc), the load
average and the cores other processes kept busy meanwhile; then the medians
over the rounds and routed / direct.

Usage: routed.py --cpluginctl PATH [--rounds 3] [--duration 10]
                 [--host-threads N] [--host-busy-poll-us US]
                 [--only 1x1|4x32] [--out DIR] [--quick]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (Server, handshake, h2load parsing, machine facts)

CONCURRENCIES = (("1x1", 1, 1), ("4x32", 4, 32))
WARMUP = {"1x1": 2000, "4x32": 20000}
TYPE = "load"


def h2load(port, headers, body_path, n, clients, streams):
    argv = ["h2load", "-n", str(n), "-c", str(clients), "-m", str(streams), "-t", "1", "-d", body_path]
    for h in ["content-type: application/grpc", "te: trailers"] + headers:
        argv += ["-H", h]
    argv.append("http://127.0.0.1:%d%s" % (port, compare.METHOD))
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    r = compare.parse_h2load(out.stdout)
    if out.returncode != 0 or r.get("succeeded") != n or r.get("status_other"):
        r["problem"] = "h2load: status %d, %s of %d succeeded" % (out.returncode, r.get("succeeded"), n)
    return r


def start_pair(cpluginctl, log_dir, host_threads, host_busy_poll_us=0):
    threads = ["--threads", str(host_threads)] if host_threads else []
    if host_busy_poll_us:
        threads += ["--busy-poll-us", str(host_busy_poll_us)]
    host = compare.Server(
        "host",
        [cpluginctl, "serve", "--listen", "127.0.0.1:0", "--chain", "on", "--rate", str(compare.FULL_RATE),
         "--burst", str(compare.FULL_BURST), "--metrics-port", "off", "--provider-type", TYPE] + threads,
        os.path.join(log_dir, "host.log"),
    )
    try:
        provider = compare.Server(
            "provider",
            [cpluginctl, "provider", "--host", "127.0.0.1:%d" % host.port, "--type", TYPE],
            os.path.join(log_dir, "provider.log"),
        )
        provider._wait_for(r"^(REGISTERED)$", compare.START_TIMEOUT, "REGISTERED")
        ident, token = compare.handshake(cpluginctl, host.port, os.path.join(log_dir, "host.log"))
    except Exception:
        host.kill()
        raise
    return host, provider, ident, token


def measure(kind, conc, host, provider, ident, token, body, duration):
    name, clients, streams = conc
    if kind == "routed":
        port = host.port
        headers = ["authorization: Bearer %s" % token, "x-plugin-runtime-id: %s" % ident,
                   "x-cplugin-service-type: %s" % TYPE]
    else:
        port = provider.port
        headers = ["x-plugin-caller-id: %s" % ident]
    rec = {"kind": kind, "concurrency": name, "loadavg": compare.loadavg()}
    warm = h2load(port, headers, body, WARMUP[name], clients, streams)
    rec["calls"] = warm.get("succeeded", 0)
    if "problem" in warm:
        rec["problem"] = "warm-up: " + warm["problem"]
        return rec
    per = clients * streams
    n = max(10 * per, int(warm["req_per_s"] * duration) // per * per)
    cpu0 = (compare.cpu_seconds(host.proc.pid), compare.cpu_seconds(provider.proc.pid))
    busy0, kids0, t0 = compare.machine_busy_seconds(), compare.children_cpu_seconds(), time.monotonic()
    meas = h2load(port, headers, body, n, clients, streams)
    busy1, kids1, t1 = compare.machine_busy_seconds(), compare.children_cpu_seconds(), time.monotonic()
    cpu1 = (compare.cpu_seconds(host.proc.pid), compare.cpu_seconds(provider.proc.pid))
    if None not in (busy0, busy1) + cpu0 + cpu1 and t1 > t0:
        # Cores busy with anything but host, provider and h2load meanwhile:
        # how quiet the shared machine was.
        ours = (cpu1[0] - cpu0[0]) + (cpu1[1] - cpu0[1]) + (kids1 - kids0)
        rec["other_cpu_cores"] = max(0.0, (busy1 - busy0) - ours) / (t1 - t0)
    rec["calls"] += meas.get("succeeded", 0)
    if "problem" in meas:
        rec["problem"] = meas["problem"]
        return rec
    rec["req_per_s"] = meas["req_per_s"]
    rec["mean_us"] = meas.get("latency_mean_us")
    ok = meas["succeeded"]
    rec["host_cpu_us"] = (cpu1[0] - cpu0[0]) * 1e6 / ok
    rec["provider_cpu_us"] = (cpu1[1] - cpu0[1]) * 1e6 / ok
    return rec


def concurrencies(args):
    return [c for c in CONCURRENCIES if args.only in (None, c[0])]


def run_round(i, args, body, log_dir):
    host, provider, ident, token = start_pair(args.cpluginctl, log_dir, args.host_threads, args.host_busy_poll_us)
    records = []
    try:
        order = ("routed", "direct") if i % 2 == 0 else ("direct", "routed")
        for conc in concurrencies(args):
            for kind in order:
                rec = measure(kind, conc, host, provider, ident, token, body, args.duration)
                rec["round"] = i + 1
                records.append(rec)
                print("round %d %-6s %-4s %s" % (i + 1, kind, conc[0], json.dumps(
                    {k: (round(v, 1) if isinstance(v, float) else v) for k, v in rec.items()
                     if k not in ("kind", "concurrency", "round")})), flush=True)
    finally:
        _, provider_ok = provider.stop()
        _, host_ok = host.stop()
    sent = sum(r["calls"] for r in records)
    problems = [r["problem"] for r in records if "problem" in r]
    if provider_ok != sent:
        problems.append("provider SERVED ok=%s, h2load succeeded %d" % (provider_ok, sent))
    if host_ok != 0:
        problems.append("host SERVED ok=%s: it answered Echo itself" % host_ok)
    return records, problems


def med(records, kind, conc, key):
    vals = [r[key] for r in records if r["kind"] == kind and r["concurrency"] == conc and r.get(key) is not None]
    return statistics.median(vals) if vals else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpluginctl", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    ap.add_argument("--host-threads", type=int, default=0, help="the host's server threads (default: half the CPUs)")
    ap.add_argument("--host-busy-poll-us", type=int, default=0,
                    help="the host's busy polling (cpluginctl serve --busy-poll-us; default off)")
    ap.add_argument("--only", choices=[c[0] for c in CONCURRENCIES], help="measure one concurrency only")
    ap.add_argument("--quick", action="store_true", help="1 round, 1 s each")
    ap.add_argument("--out", default=None, help="directory for routed.json and the logs")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.duration = 1, 1.0
    out = args.out or tempfile.mkdtemp(prefix="routed-")
    os.makedirs(out, exist_ok=True)
    body = os.path.join(out, "body.bin")
    with open(body, "wb") as f:
        f.write(compare.grpc_body())
    print("loadavg before: %s" % compare.loadavg(), flush=True)
    records, problems = [], []
    t0 = time.time()
    for i in range(args.rounds):
        recs, probs = run_round(i, args, body, out)
        records += recs
        problems += probs
    lines = ["| h2load | routed calls/s | direct calls/s | routed / direct | routed mean | direct mean "
             "| routed / direct mean | host CPU per routed call | provider CPU per call (routed, direct) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    summary = {}
    for name, _, _ in concurrencies(args):
        rr, dr = med(records, "routed", name, "req_per_s"), med(records, "direct", name, "req_per_s")
        rm, dm = med(records, "routed", name, "mean_us"), med(records, "direct", name, "mean_us")
        hc = med(records, "routed", name, "host_cpu_us")
        pr, pd = med(records, "routed", name, "provider_cpu_us"), med(records, "direct", name, "provider_cpu_us")
        if None in (rr, dr, rm, dm, hc, pr, pd):
            continue
        summary[name] = {"routed_req_per_s": rr, "direct_req_per_s": dr, "rate_ratio": rr / dr,
                         "routed_mean_us": rm, "direct_mean_us": dm, "mean_ratio": rm / dm,
                         "host_cpu_us_per_routed_call": hc, "provider_cpu_us_routed": pr,
                         "provider_cpu_us_direct": pd}
        lines.append("| %s | %.0f | %.0f | %.2f | %.0f µs | %.0f µs | %.2f | %.1f µs | %.1f / %.1f µs |"
                     % (name, rr, dr, rr / dr, rm, dm, rm / dm, hc, pr, pd))
    print("\nmedians of %d round(s), %.0f s, loadavg after: %s" % (args.rounds, time.time() - t0, compare.loadavg()))
    print("\n".join(lines))
    with open(os.path.join(out, "routed.json"), "w", encoding="utf-8") as f:
        json.dump({"host_busy_poll_us": args.host_busy_poll_us, "records": records, "medians": summary, "problems": problems}, f, indent=1)
    for p in problems:
        print("FAIL:", p, file=sys.stderr)
    print("results: %s" % os.path.join(out, "routed.json"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
