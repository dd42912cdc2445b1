#!/usr/bin/env python3
"""The side-by-side comparison behind tools/compare.sh (run that, not this).

    compare.py --cpluginctl PATH --ref-server PATH --out DIR
               [--rounds R] [--duration S] [--quick] [--command TEXT]

Measures, with h2load on this machine, unary calls of
/cplugin.load.v1.LoadService/Echo (16-byte payload) against three servers:

  full  `cpluginctl serve --chain on`: a cplugin host with auth, rate
        limiting (limits far above the offered load) and metrics on;
  off   `cpluginctl serve --chain off`: the same host with all three removed;
  ref   tools/compare/ref_server: gRPC C++ 1.51 (callback API) with the same
        bearer-token check as a server interceptor;
  shared  (with --redis ADDR) full with its rate limits shared through the
        Redis at ADDR, as a host replica runs (cplugin/ratelimit_redis.h);
        with --etcd ENDPOINTS also its identities and registry
        (cplugin/replicas.h).

Every round runs, for each concurrency (1x1 = `-c1 -m1`, 4x32 = `-c4 -m32`),
full, then off, then ref (interleaved, so drift hits all three alike). Each
measurement starts its server fresh, takes a token (`cpluginctl handshake`
for full and off; a random one given to ref_server's --token), runs a warm-up
and then the measured h2load, and stops the server.

Counts, not durations: h2load counts gRPC errors as HTTP 200, so a call
that failed with a grpc-status would pass unseen. Each server prints
`SERVED ok=<n>` (calls that finished OK) when it stops, and a measurement
passes only if n equals the calls h2load saw succeed in the warm-up plus
the measured run, and h2load reports no failed, errored or timed-out call.
That needs exact counts, which h2load's -D/--warm-up-time cannot give (calls
in flight at the deadline are abandoned, warm-up calls are not reported,
yet the server completes and counts both). So each measured run is a fixed
count: the warm-up's rate times --duration, i.e. about --duration seconds.

Before round 1 a negative control proves the check can fail: 20 calls with a
wrong token (same length) must be HTTP 200 for h2load yet 0 OK for full and
ref, and all 20 OK for off (its chain really is off).

Writes DIR/compare.md (machine, rounds, medians and ratios), compare.json
(everything) and compare.csv (one row per measurement); server logs go to
DIR/logs/. Exit status: 0 when every measurement passed its checks, 1 when
any failed, 2 on a usage or setup error.
"""

import argparse
import csv
import datetime
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import threading
import time

METHOD = "/cplugin.load.v1.LoadService/Echo"
PAYLOAD = b"cplugin-compare!"  # 16 bytes
SERVERS = ("full", "off", "ref")  # "shared" joins them with --redis
SERVER_TITLES = {
    "full": "cplugin, chain on (auth + rate limit + metrics)",
    "shared": "full as a host replica: rate limits shared through Redis (and, with --etcd, "
              "identities and registry through etcd)",
    "off": "cplugin, chain off",
    "ref": "gRPC C++ 1.51 callback server + interceptor",
}
CONCURRENCIES = (("1x1", 1, 1), ("4x32", 4, 32))
# Rate limit for `full`: far above anything two cores can offer, so it never
# rejects, while every call still goes through the limiter.
FULL_RATE = 100000000
FULL_BURST = 100000000
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


class SetupError(Exception):
    pass


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------------------
# request body and machine facts


def grpc_body():
    """One gRPC message frame: flag 0, 4-byte big-endian length, then the
    EchoRequest (field 1, bytes) encoded by hand."""
    msg = b"\x0a" + bytes([len(PAYLOAD)]) + PAYLOAD
    return b"\x00" + struct.pack(">I", len(msg)) + msg


def read_first(path, prefix):
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def loadavg():
    try:
        with open("/proc/loadavg", encoding="utf-8") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def command_output(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.stdout.strip() if out.returncode == 0 else "?"


def machine_facts():
    mem = read_first("/proc/meminfo", "MemTotal")
    mem_gib = "?"
    if mem.endswith("kB"):
        mem_gib = "%.1f GiB" % (int(mem.split()[0]) / 1048576.0)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    commit = command_output(["git", "-C", root, "rev-parse", "--short", "HEAD"])
    dirty = command_output(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"])
    return {
        "cpu": read_first("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "memory": mem_gib,
        "kernel": platform.release(),
        "h2load": command_output(["h2load", "--version"]),
        "libgrpc++": command_output(["dpkg-query", "-W", "-f=${Version}", "libgrpc++1.51"]),
        "commit": commit + (" (tree has uncommitted changes)" if dirty and dirty != "?" else ""),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (from /proc/PID/stat)."""
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, IndexError, ValueError):
        return None


def machine_busy_seconds():
    """CPU seconds all cores spent busy since boot (/proc/stat: everything
    but idle and iowait)."""
    try:
        with open("/proc/stat", encoding="utf-8") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
        return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def children_cpu_seconds():
    """CPU seconds of this process's waited-for children (h2load runs)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------------------
# servers


def redact_argv(argv):
    """argv for a log line: the value of --token is not written anywhere."""
    out = list(argv)
    for i in range(1, len(out)):
        if out[i - 1] == "--token":
            out[i] = "<not logged>"
    return out


class Server:
    """A server process that prints LISTENING <port> and, when stopped with
    SIGTERM, SERVED ok=<n>."""

    def __init__(self, kind, argv, log_path):
        self.kind = kind
        self.argv = argv
        self.lines = []
        self.cond = threading.Condition()
        self.log_file = open(log_path, "ab")
        self.log_file.write(("\n$ %s\n" % " ".join(redact_argv(argv))).encode())
        self.log_file.flush()
        try:
            self.proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=self.log_file,
                stdin=subprocess.DEVNULL,
            )
        except OSError as e:
            self.log_file.close()
            raise SetupError("cannot start %s: %s" % (argv[0], e))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.port = int(self._wait_for(r"^LISTENING (\d+)$", START_TIMEOUT, "LISTENING"))

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.log_file.write(("[stdout] %s\n" % line).encode())
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # end of output
            self.cond.notify_all()

    def _wait_for(self, pattern, timeout, what):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if line is None:
                        break
                    m = rx.match(line)
                    if m:
                        return m.group(1)
                if None in self.lines:
                    self.proc.wait()
                    raise SetupError(
                        "%s exited (status %s) before printing %s; see %s"
                        % (self.argv[0], self.proc.returncode, what, self.log_file.name)
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    self.kill()
                    raise SetupError(
                        "%s printed no %s within %.0f s; it printed %r; see %s"
                        % (self.argv[0], what, timeout, self.lines[-5:], self.log_file.name)
                    )
                self.cond.wait(left)

    def stop(self):
        """SIGTERM; returns (exit status, SERVED ok count or None)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            return None, None
        # The exit is seen before the reader has read the last lines
        # (SERVED ok=<n>): wait for the end of the output too.
        self.reader.join(timeout=STOP_TIMEOUT)
        if self.reader.is_alive():
            log("%s exited but its output did not end within %.0f s; lines so far: %r"
                % (self.argv[0], STOP_TIMEOUT, self.lines[-5:]))
        self.log_file.close()
        served = None
        for line in self.lines:
            m = re.match(r"^SERVED ok=(\d+)$", line or "")
            if m:
                served = int(m.group(1))
        return self.proc.returncode, served

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log_file.closed:
            self.log_file.close()


def handshake(cpluginctl, port, log_path):
    argv = [cpluginctl, "handshake", "--target", "127.0.0.1:%d" % port, "--id", "compare"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    with open(log_path, "a", encoding="utf-8") as f:
        shown = re.sub(r"^RUNTIME_TOKEN=.*$", "RUNTIME_TOKEN=<not logged>", out.stdout, flags=re.M)
        f.write("\n$ %s\n%s%s" % (" ".join(argv), out.stderr, shown))
    ident = re.search(r"^RUNTIME_ID=(\S+)$", out.stdout, re.M)
    token = re.search(r"^RUNTIME_TOKEN=(\S+)$", out.stdout, re.M)
    if out.returncode != 0 or not ident or not token:
        raise SetupError("cpluginctl handshake failed (status %d); see %s" % (out.returncode, log_path))
    return ident.group(1), token.group(1)


def start(kind, args, log_dir):
    """Starts a server of `kind`; returns (server, runtime id, token)."""
    log_path = os.path.join(log_dir, "%s.log" % kind)
    if kind == "ref":
        token = secrets.token_urlsafe(32)
        server = Server(kind, [args.ref_server, "--listen", "127.0.0.1:0", "--token", token], log_path)
        return server, "compare", token
    if kind in ("full", "shared"):
        chain = ["--chain", "on", "--rate", str(FULL_RATE), "--burst", str(FULL_BURST), "--metrics-port", "0"]
        if kind == "shared":
            chain += ["--redis", args.redis]
            if args.etcd:
                chain += ["--etcd", args.etcd]
    else:
        chain = ["--chain", "off", "--metrics-port", "off"]
    server = Server(kind, [args.cpluginctl, "serve", "--listen", "127.0.0.1:0"] + chain, log_path)
    try:
        ident, token = handshake(args.cpluginctl, server.port, log_path)
    except (SetupError, OSError, subprocess.SubprocessError):
        server.kill()
        raise
    return server, ident, token


# ---------------------------------------------------------------------------
# h2load

_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def parse_h2load(text):
    r = {}
    m = re.search(r"finished in ([\d.]+)(us|ms|s), ([\d.]+) req/s", text)
    if m:
        r["elapsed_s"] = float(m.group(1)) * _UNIT[m.group(2)]
        r["req_per_s"] = float(m.group(3))
    m = re.search(
        r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
        r"(\d+) failed, (\d+) errored, (\d+) timeout",
        text,
    )
    if m:
        for i, k in enumerate(("total", "started", "done", "succeeded", "failed", "errored", "timeout")):
            r[k] = int(m.group(i + 1))
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    if m:
        r["status_2xx"] = int(m.group(1))
        r["status_other"] = int(m.group(2)) + int(m.group(3)) + int(m.group(4))
    m = re.search(r"time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)", text)
    if m:
        r["latency_mean_us"] = float(m.group(5)) * _UNIT[m.group(6)] * 1e6
        r["latency_max_us"] = float(m.group(3)) * _UNIT[m.group(4)] * 1e6
    return r


def h2load(port, ident, token, body_path, n, clients, streams, auth_override=None):
    headers = [
        "content-type: application/grpc",
        "te: trailers",
        "authorization: Bearer %s" % (auth_override or token),
        "x-plugin-runtime-id: %s" % ident,
    ]
    argv = ["h2load", "-n", str(n), "-c", str(clients), "-m", str(streams), "-t", "1", "-d", body_path]
    for h in headers:
        argv += ["-H", h]
    argv.append("http://127.0.0.1:%d%s" % (port, METHOD))
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return {"problem": "h2load did not finish within 600 s"}, ""
    r = parse_h2load(out.stdout)
    r["n"] = n
    problems = []
    if out.returncode != 0:
        problems.append("h2load exited with status %d" % out.returncode)
    if "succeeded" not in r or "req_per_s" not in r:
        problems.append("cannot read h2load's summary")
    else:
        if r["done"] != n or r["succeeded"] != n:
            problems.append("h2load: %d of %d calls done, %d succeeded" % (r["done"], n, r["succeeded"]))
        if r["failed"] or r["errored"] or r["timeout"]:
            problems.append(
                "h2load: %d failed, %d errored, %d timed out" % (r["failed"], r["errored"], r["timeout"])
            )
        if r.get("status_other"):
            problems.append("h2load: %d responses were not HTTP 2xx" % r["status_other"])
    if problems:
        r["problem"] = "; ".join(problems)
    return r, out.stdout + out.stderr


# ---------------------------------------------------------------------------
# one measurement


def measure(kind, conc, args, body_path, log_dir):
    name, clients, streams = conc
    server, ident, token = start(kind, args, log_dir)
    rec = {"server": kind, "concurrency": name}
    problems = []
    try:
        warm, warm_text = h2load(server.port, ident, token, body_path, args.warmup[name], clients, streams)
        rec["warmup"] = warm
        if "problem" in warm:
            problems.append("warm-up: " + warm["problem"])
            n = 0
        else:
            # About --duration seconds at the warm-up's rate; whole rounds of
            # clients x streams, at least ten of them.
            per = clients * streams
            n = int(warm["req_per_s"] * args.duration)
            n = max(10 * per, (n // per) * per)
        if n:
            cpu0 = cpu_seconds(server.proc.pid)
            busy0, kids0, t0 = machine_busy_seconds(), children_cpu_seconds(), time.monotonic()
            meas, meas_text = h2load(server.port, ident, token, body_path, n, clients, streams)
            busy1, kids1, t1 = machine_busy_seconds(), children_cpu_seconds(), time.monotonic()
            cpu1 = cpu_seconds(server.proc.pid)
            rec["measured"] = meas
            if None not in (cpu0, cpu1, busy0, busy1) and t1 > t0:
                # CPU the machine spent on anything but this server and this
                # h2load, in cores: how quiet the machine was meanwhile.
                other = (busy1 - busy0) - (cpu1 - cpu0) - (kids1 - kids0)
                rec["other_cpu_cores"] = max(0.0, other) / (t1 - t0)
            if "problem" in meas:
                problems.append(meas["problem"])
                with open(os.path.join(log_dir, "h2load-failed.log"), "a", encoding="utf-8") as f:
                    f.write("\n# %s %s\n%s" % (kind, name, meas_text))
            elif cpu0 is not None and cpu1 is not None and meas["succeeded"]:
                rec["server_cpu_us_per_call"] = (cpu1 - cpu0) * 1e6 / meas["succeeded"]
    finally:
        status, served = server.stop()
    rec["server_exit"] = status
    rec["served_ok"] = served
    expected = rec.get("warmup", {}).get("succeeded", 0) + rec.get("measured", {}).get("succeeded", 0)
    rec["h2load_succeeded"] = expected
    if status != 0:
        problems.append("server exit status %s" % status)
    if served is None:
        problems.append("server printed no SERVED ok=<n>")
    elif served != expected:
        problems.append(
            "grpc-status check: server finished %d calls OK, h2load counted %d successes "
            "(%d calls were not OK)" % (served, expected, expected - served)
        )
    rec["ok"] = not problems
    if problems:
        rec["problems"] = problems
    return rec


def negative_control(kind, args, body_path, log_dir):
    """20 calls with a wrong token of the same length: h2load sees 20 HTTP 200
    responses; the server must count 0 OK (full, ref) or 20 (off)."""
    server, ident, token = start(kind, args, log_dir)
    calls = 20
    try:
        wrong = "".join("x" if ch != "x" else "y" for ch in token)
        r, _ = h2load(server.port, ident, token, body_path, calls, 1, 1, auth_override=wrong)
    finally:
        status, served = server.stop()
    want = calls if kind == "off" else 0
    problems = []
    if "problem" in r:
        problems.append(r["problem"])
    if status != 0:
        problems.append("server exit status %s" % status)
    if served != want:
        problems.append("server finished %s of %d calls with a wrong token OK, expected %d" % (served, calls, want))
    return {"server": kind, "calls": calls, "h2load_succeeded": r.get("succeeded"), "served_ok": served,
            "expected_ok": want, "ok": not problems, "problems": problems}


# ---------------------------------------------------------------------------
# report


def fmt_rate(x):
    return "—" if x is None else "{:,.0f}".format(x)


def fmt_ratio(a, b):
    return "—" if a is None or b is None or b == 0 else "%.2f" % (a / b)


def median_of(records, kind, conc, key):
    vals = []
    for r in records:
        if r["server"] == kind and r["concurrency"] == conc and r["ok"]:
            v = r.get(key) if key == "server_cpu_us_per_call" else r.get("measured", {}).get(key)
            if v is not None:
                vals.append(v)
    return statistics.median(vals) if vals else None


def write_report(out_dir, meta, controls, records):
    md = []
    m = meta["machine"]
    md.append("# cplugin vs gRPC C++: side-by-side comparison\n")
    md.append("- machine: %s, %s cores, %s RAM, kernel %s" % (m["cpu"], m["cores"], m["memory"], m["kernel"]))
    md.append("- load average (1/5/15 min): %s before, %s after" % (meta["load_before"], meta["load_after"]))
    md.append("- %s; libgrpc++ %s; commit %s; %s" % (m["h2load"], m["libgrpc++"], m["commit"], m["date"]))
    md.append("- command: `%s`" % meta["command"])
    md.append(
        "- method: h2load (1 thread, h2c) -> `%s`, %d-byte payload; per measurement a fresh server, "
        "a warm-up of %s calls, then a fixed count of about %g s at the warm-up's rate; "
        "%d round(s), interleaved %s" % (
            METHOD, len(PAYLOAD),
            " / ".join("%d (%s)" % (meta["warmup"][c[0]], c[0]) for c in CONCURRENCIES),
            meta["duration_s"], meta["rounds"], ", ".join(SERVERS)))
    md.append("- servers: " + "; ".join("**%s** = %s" % (k, SERVER_TITLES[k]) for k in SERVERS))
    md.append(
        "- check: every call OK by grpc-status (server's `SERVED ok` = h2load's successes, "
        "0 failed/errored); negative control with a wrong token: %s\n"
        % ("passed" if all(c["ok"] for c in controls) else "FAILED"))

    md.append("## Medians\n")
    md.append("| concurrency | full req/s | off req/s | ref req/s | full/off | full/ref | off/ref |")
    md.append("|---|---:|---:|---:|---:|---:|---:|")
    medians = {}
    for name, _, _ in CONCURRENCIES:
        med = {k: median_of(records, k, name, "req_per_s") for k in SERVERS}
        medians[name] = med
        md.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            name, fmt_rate(med["full"]), fmt_rate(med["off"]), fmt_rate(med["ref"]),
            fmt_ratio(med["full"], med["off"]), fmt_ratio(med["full"], med["ref"]),
            fmt_ratio(med["off"], med["ref"])))
    md.append("")
    if "shared" in SERVERS:
        md.append("| concurrency | shared req/s | full req/s | shared/full |")
        md.append("|---|---:|---:|---:|")
        for name, _, _ in CONCURRENCIES:
            med = medians[name]
            md.append("| %s | %s | %s | %s |" % (
                name, fmt_rate(med["shared"]), fmt_rate(med["full"]),
                fmt_ratio(med["shared"], med["full"])))
        md.append("")
    md.append("| concurrency | server | mean latency (µs) | server CPU per call (µs) |")
    md.append("|---|---|---:|---:|")
    for name, _, _ in CONCURRENCIES:
        for k in SERVERS:
            lat = median_of(records, k, name, "latency_mean_us")
            cpu = median_of(records, k, name, "server_cpu_us_per_call")
            md.append("| %s | %s | %s | %s |" % (
                name, k, "—" if lat is None else "%.0f" % lat, "—" if cpu is None else "%.1f" % cpu))
    md.append("")
    md.append("Server CPU per call: the server process's user + system time during the measured "
              "run divided by its calls. h2load shares the machine's cores with the server, so "
              "a server that needs less CPU per call also leaves h2load more of it.\n")

    md.append("## Rounds (req/s)\n")
    md.append("Other CPU: cores busy with anything but the measured server and h2load during the "
              "run (most, over the three servers), from /proc/stat.\n")
    md.append("| round | concurrency | %s | full/off | full/ref | other CPU (cores) |" % " | ".join(SERVERS))
    md.append("|---:|---|" + "---:|" * (len(SERVERS) + 3))
    rounds = sorted({r["round"] for r in records})
    for rnd in rounds:
        for name, _, _ in CONCURRENCIES:
            cells = []
            rates = {}
            others = []
            for k in SERVERS:
                rec = next((r for r in records if r["round"] == rnd and r["concurrency"] == name
                            and r["server"] == k), None)
                if rec is None:
                    cells.append("—")
                elif not rec["ok"]:
                    cells.append("FAILED")
                else:
                    rates[k] = rec["measured"]["req_per_s"]
                    cells.append(fmt_rate(rates[k]))
                if rec is not None and rec.get("other_cpu_cores") is not None:
                    others.append(rec["other_cpu_cores"])
            cells.append(fmt_ratio(rates.get("full"), rates.get("off")))
            cells.append(fmt_ratio(rates.get("full"), rates.get("ref")))
            cells.append("%.2f" % max(others) if others else "—")
            md.append("| %d | %s | %s |" % (rnd, name, " | ".join(cells)))
    failed = [r for r in records if not r["ok"]] + [c for c in controls if not c["ok"]]
    if failed:
        md.append("\n## Failures\n")
        for r in failed:
            where = "round %d %s %s" % (r["round"], r["concurrency"], r["server"]) if "round" in r else \
                "negative control %s" % r["server"]
            md.append("- %s: %s" % (where, "; ".join(r["problems"])))
    text = "\n".join(md) + "\n"
    with open(os.path.join(out_dir, "compare.md"), "w", encoding="utf-8") as f:
        f.write(text)

    with open(os.path.join(out_dir, "compare.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "negative_control": controls, "measurements": records,
                   "medians_req_per_s": medians}, f, indent=2)
        f.write("\n")

    with open(os.path.join(out_dir, "compare.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["round", "concurrency", "server", "ok", "calls", "req_per_s", "latency_mean_us",
                    "server_cpu_us_per_call", "other_cpu_cores", "served_ok", "h2load_succeeded"])
        for r in records:
            meas = r.get("measured", {})
            cpu = r.get("server_cpu_us_per_call")
            other = r.get("other_cpu_cores")
            w.writerow([r["round"], r["concurrency"], r["server"], int(r["ok"]), meas.get("n", ""),
                        meas.get("req_per_s", ""), meas.get("latency_mean_us", ""),
                        "" if cpu is None else "%.2f" % cpu, "" if other is None else "%.2f" % other,
                        r.get("served_ok", ""), r.get("h2load_succeeded", "")])
    return text


# ---------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpluginctl", required=True, help="the cpluginctl binary")
    ap.add_argument("--ref-server", required=True, help="the ref_server binary")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--rounds", type=int, help="rounds (default 3; 1 with --quick)")
    ap.add_argument("--duration", type=float, help="seconds per measured run (default 10; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round, 1 s each, short warm-up")
    ap.add_argument("--command", default=None, help="the command line to record in the report")
    ap.add_argument("--redis", default=None,
                    help="also measure `shared`: full with its limits shared through this Redis")
    ap.add_argument("--etcd", default=None,
                    help="with --redis: `shared` also shares identities and registry through this "
                         "etcd (secret from CPLUGIN_REPLICA_SECRET)")
    args = ap.parse_args(argv)
    global SERVERS
    if args.redis:
        SERVERS = ("full", "shared", "off", "ref")
    args.rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    args.duration = args.duration if args.duration is not None else (1.0 if args.quick else 10.0)
    if args.rounds < 1 or args.duration <= 0:
        ap.error("--rounds must be >= 1 and --duration > 0")
    args.warmup = {"1x1": 500, "4x32": 4096} if args.quick else {"1x1": 3000, "4x32": 40960}
    for path in (args.cpluginctl, args.ref_server):
        if not os.access(path, os.X_OK):
            print("compare: %s is not an executable" % path, file=sys.stderr)
            return 2
    if shutil.which("h2load") is None:
        print("compare: h2load not found (Debian package nghttp2-client; tools/install-deps.sh)", file=sys.stderr)
        return 2

    out_dir = os.path.abspath(args.out)
    log_dir = os.path.join(out_dir, "logs")
    os.makedirs(log_dir, exist_ok=True)
    for name in os.listdir(log_dir):
        if name.endswith(".log"):
            os.remove(os.path.join(log_dir, name))
    body_path = os.path.join(out_dir, "echo_request.bin")
    with open(body_path, "wb") as f:
        f.write(grpc_body())

    machine = machine_facts()
    meta = {
        "machine": machine,
        "load_before": loadavg(),
        "command": args.command or " ".join(sys.argv),
        "rounds": args.rounds,
        "duration_s": args.duration,
        "warmup": args.warmup,
        "quick": args.quick,
        "full_rate_limit": {"rate": FULL_RATE, "burst": FULL_BURST},
    }
    log("machine: %s, %s cores, %s, kernel %s; load average %s" % (
        machine["cpu"], machine["cores"], machine["memory"], machine["kernel"], meta["load_before"]))

    controls = []
    records = []
    try:
        for kind in SERVERS:
            c = negative_control(kind, args, body_path, log_dir)
            controls.append(c)
            log("negative control %-4s: wrong token, %s of %d calls OK (expected %d) %s" % (
                kind, c["served_ok"], c["calls"], c["expected_ok"], "ok" if c["ok"] else "FAILED"))
        for rnd in range(1, args.rounds + 1):
            for conc in CONCURRENCIES:
                for kind in SERVERS:
                    rec = measure(kind, conc, args, body_path, log_dir)
                    rec["round"] = rnd
                    records.append(rec)
                    meas = rec.get("measured", {})
                    log("round %d %-4s %-4s %10s req/s  %s" % (
                        rnd, conc[0], kind, fmt_rate(meas.get("req_per_s")),
                        "ok (%d calls OK)" % rec["served_ok"] if rec["ok"] else
                        "FAILED: " + "; ".join(rec["problems"])))
    except SetupError as e:
        print("compare: %s" % e, file=sys.stderr)
        meta["load_after"] = loadavg()
        meta["setup_error"] = str(e)
        write_report(out_dir, meta, controls, records)
        return 2
    meta["load_after"] = loadavg()
    text = write_report(out_dir, meta, controls, records)
    print()
    print(text)
    print("written: %s/compare.{md,json,csv}" % out_dir)
    if all(r["ok"] for r in records) and all(c["ok"] for c in controls):
        return 0
    print("compare: FAILED: some calls were not OK or a check failed (see above)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
