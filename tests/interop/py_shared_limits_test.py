#!/usr/bin/python3
"""Rate limits shared by two host replicas through Redis, black-box: a real
redis-server and two urlshortener-host processes started with --redis, and
Python grpcio as the caller spreading its handshakes over both.

1. Together the replicas admit the handshake limit once (10/s, burst 20 per
   address), within 25 %: without sharing they would admit it twice.
2. Redis killed: each replica falls back to its own limit (the default
   outage policy), so together they admit twice the rate; each logs a
   warning, and /metrics shows the store down and the calls the outage
   policy decided.
3. Redis back on its port: both replicas reconnect by themselves, log it,
   and /metrics shows the store up.

usage: py_shared_limits_test.py HOST_BINARY
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import grpc

from hostproc import free_port, handshake_request, start_host, stop_host
from waiting import wait_for

HANDSHAKE = "/connectplugin.v1.HandshakeService/Handshake"
RATE, BURST = 10, 20  # the host's handshake limit per address
PROBE_SECONDS = 4


def redis_answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(port):
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for("redis-server on port %d" % port, lambda: redis_answers(port))
    return proc


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=5) as r:
        values = {}
        for line in r.read().decode().splitlines():
            if line.startswith("cplugin_rate_limit_store"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values


def probe(targets, seconds):
    """Handshakes alternately at every target for `seconds`; returns
    (admitted per target, seconds it took)."""
    calls = [grpc.insecure_channel(t, options=[("grpc.enable_http_proxy", 0)])
             .unary_unary(HANDSHAKE) for t in targets]
    admitted = [0] * len(targets)
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        for i, call in enumerate(calls):
            try:
                call(handshake_request("probe"), timeout=10)
                admitted[i] += 1
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    raise
            time.sleep(0.002)
    return admitted, time.monotonic() - start


def logged(path, text):
    with open(path) as f:
        return text in f.read()


def main():
    host_binary = sys.argv[1]
    failures = []
    tmp = tempfile.mkdtemp(prefix="shared-limits-")
    redis_port = free_port()
    redis = start_redis(redis_port)
    hosts = []
    try:
        for name in ("replica-a", "replica-b"):
            err_path = os.path.join(tmp, name + ".err")
            err = open(err_path, "w")
            proc, address = start_host(
                host_binary, name, ["--redis", "127.0.0.1:%d" % redis_port],
                stderr=err)
            line = proc.lines.next_line("METRICS")
            hosts.append((name, proc, address, int(line.split()[1]), err_path))
        targets = [h[2] for h in hosts]

        admitted, elapsed = probe(targets, PROBE_SECONDS)
        expected = RATE * elapsed + BURST
        print("shared: admitted %s, %d in all, %.0f expected"
              % (admitted, sum(admitted), expected))
        if not 0.75 * expected <= sum(admitted) <= 1.25 * expected:
            failures.append("shared: admitted %d, expected %.0f"
                            % (sum(admitted), expected))
        if min(admitted) == 0:
            failures.append("shared: a replica admitted nothing: %s" % admitted)
        m = metrics(hosts[0][3])
        if m.get("cplugin_rate_limit_store_up") != 1 or \
                m.get("cplugin_rate_limit_store_leases_total", 0) <= 0:
            failures.append("shared: metrics %s" % m)

        redis.send_signal(signal.SIGKILL)
        redis.wait()
        # Each replica's own bucket was spent by the calls above (a call
        # takes a local token before the shared one), so each admits its
        # rate from here: together twice the rate, where one shared limit
        # would admit it once.
        admitted, elapsed = probe(targets, PROBE_SECONDS)
        expected = len(hosts) * RATE * elapsed
        print("outage: admitted %s, %d in all, %.0f expected"
              % (admitted, sum(admitted), expected))
        if sum(admitted) < 0.8 * expected:
            failures.append("outage: admitted %d: the replicas' own limits "
                            "did not apply" % sum(admitted))
        for name, _, _, mport, err_path in hosts:
            m = metrics(mport)
            if m.get("cplugin_rate_limit_store_up") != 0 or \
                    m.get("cplugin_rate_limit_store_outage_calls_total",
                          0) <= 0:
                failures.append("outage: %s metrics %s" % (name, m))
            if not logged(err_path, "rate limit store unreachable"):
                failures.append("outage: %s logged no warning" % name)

        redis = start_redis(redis_port)
        for name, _, _, mport, err_path in hosts:
            wait_for(name + " back on Redis", lambda: metrics(mport).get(
                "cplugin_rate_limit_store_up") == 1)
            if not logged(err_path, "rate limit store reachable"):
                failures.append("recovery: %s logged nothing" % name)
        print("recovery: both replicas reconnected")
    finally:
        for name, proc, _, _, _ in hosts:
            stop_host(proc, name, failures)
        redis.kill()
        redis.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
