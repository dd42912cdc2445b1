#!/usr/bin/env python3
"""Host replicas sharing runtime identities through a real etcd, driven
from Python grpcio like any plugin would: a token from a handshake at
replica A is accepted at replica B, still after A is killed, and after etcd
itself was killed and restarted; a replica given another secret says so
and accepts nothing of the others'; --etcd without a secret is refused.

usage: py_replicas_test.py URLSHORTENER_HOST
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import grpc

from hostproc import (fields, free_port, handshake_request, start_host,
                      stop_host)
from waiting import WaitTimeout, default_timeout, wait_for

HANDSHAKE = "/connectplugin.v1.HandshakeService/Handshake"
DISCOVER = "/connectplugin.v1.ServiceRegistry/DiscoverService"
SECRET = "python test replicas' shared secret"
# DiscoverServiceRequest{service_type: "nothing"}: no such service, so an
# authenticated caller gets NOT_FOUND and any other UNAUTHENTICATED.
DISCOVER_NOTHING = b"\x0a\x07nothing"


def etcd_healthy(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/health" % port,
                                    timeout=1) as r:
            return b'"true"' in r.read()
    except OSError:
        return False


def start_etcd(data, client_port, peer_port):
    client = "http://127.0.0.1:%d" % client_port
    peer = "http://127.0.0.1:%d" % peer_port
    log = open(os.path.join(data, "etcd.log"), "a")
    proc = subprocess.Popen(
        ["etcd", "--name", "py-replicas", "--data-dir",
         os.path.join(data, "member"), "--listen-client-urls", client,
         "--advertise-client-urls", client, "--listen-peer-urls", peer,
         "--initial-advertise-peer-urls", peer, "--initial-cluster",
         "py-replicas=" + peer], stdout=log, stderr=log)
    wait_for("etcd on port %d" % client_port,
             lambda: etcd_healthy(client_port))
    return proc


def channel(address):
    return grpc.insecure_channel(address,
                                 options=[("grpc.enable_http_proxy", 0)])


def handshake(address, self_id):
    reply = channel(address).unary_unary(HANDSHAKE)(
        handshake_request(self_id), timeout=10)
    f = fields(reply)
    return f[10].decode(), f[11].decode()


def discover_code(address, runtime_id, token):
    """The status a Discover call with these credentials gets."""
    call = channel(address).unary_unary(DISCOVER)
    try:
        call(DISCOVER_NOTHING, timeout=10,
             metadata=[("x-plugin-runtime-id", runtime_id),
                       ("authorization", "Bearer " + token)])
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


def accepted(address, identity):
    return discover_code(address, *identity) != \
        grpc.StatusCode.UNAUTHENTICATED


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=5) as r:
        values = {}
        for line in r.read().decode().splitlines():
            if line.startswith("cplugin_replica_"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values


class Replica:
    def __init__(self, binary, name, etcd_port, tmp, secret=SECRET):
        os.environ["CPLUGIN_REPLICA_SECRET"] = secret
        self.name = name
        self.err_path = os.path.join(tmp, name + ".err")
        err = open(self.err_path, "w")
        self.proc, self.address = start_host(
            binary, name, ["--etcd", "127.0.0.1:%d" % etcd_port], stderr=err)
        self.metrics_port = int(self.proc.lines.next_line("METRICS").split()[1])

    def metric(self, name):
        return metrics(self.metrics_port).get(name)

    def logged(self, text):
        with open(self.err_path) as f:
            return text in f.read()


def main():
    binary = sys.argv[1]
    failures = []
    tmp = tempfile.mkdtemp(prefix="py-replicas-")
    client_port, peer_port = free_port(), free_port()
    etcd = start_etcd(tmp, client_port, peer_port)
    replicas = []
    try:
        # Refused without a secret, before anything starts.
        env = dict(os.environ)
        env.pop("CPLUGIN_REPLICA_SECRET", None)
        bad = subprocess.run([binary, "--etcd", "127.0.0.1:%d" % client_port],
                             env=env, capture_output=True, text=True,
                             timeout=default_timeout())
        if bad.returncode != 2 or "CPLUGIN_REPLICA_SECRET" not in bad.stderr:
            failures.append("no secret: exit %d, %r"
                            % (bad.returncode, bad.stderr))

        a = Replica(binary, "replica-a", client_port, tmp)
        b = Replica(binary, "replica-b", client_port, tmp)
        replicas += [a, b]
        identity = handshake(a.address, "pyplugin")
        start = time.monotonic()
        wait_for("A's identity accepted at B",
                 lambda: accepted(b.address, identity))
        print("identity from A accepted at B after %.0f ms"
              % (1000 * (time.monotonic() - start)))
        code = discover_code(b.address, identity[0], identity[1])
        if code != grpc.StatusCode.NOT_FOUND:
            failures.append("B answered %s, expected NOT_FOUND" % code)
        token = identity[1]
        wrong = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
        if discover_code(b.address, identity[0], wrong) != \
                grpc.StatusCode.UNAUTHENTICATED:
            failures.append("B accepted a wrong token")

        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
        replicas.remove(a)
        if not accepted(b.address, identity):
            failures.append("B refused A's identity once A was gone")
        m = metrics(b.metrics_port)
        print("B: %s" % {k: v for k, v in sorted(m.items())})
        if m.get("cplugin_replica_identities_adopted_total", 0) < 1 or \
                m.get("cplugin_replica_etcd_in_sight") != 1 or \
                m.get("cplugin_replica_secret_ok") != 1:
            failures.append("B's metrics: %s" % m)

        # etcd killed and restarted: B follows it back, and what B issues
        # meanwhile reaches a replica started afterwards.
        etcd.send_signal(signal.SIGKILL)
        etcd.wait()
        during = handshake(b.address, "duringoutage")
        if not accepted(b.address, during):
            failures.append("B refused its own identity during the outage")
        etcd = start_etcd(tmp, client_port, peer_port)
        wait_for("B in sight of etcd again",
                 lambda: b.metric("cplugin_replica_etcd_in_sight") == 1)
        c = Replica(binary, "replica-c", client_port, tmp)
        replicas.append(c)
        wait_for("B's outage identity accepted at C",
                 lambda: accepted(c.address, during))
        wait_for("the first identity accepted at C",
                 lambda: accepted(c.address, identity))

        # Another secret: it says so, and accepts nothing of the others'.
        d = Replica(binary, "replica-d", client_port, tmp,
                    secret="not the secret the others share")
        replicas.append(d)
        wait_for("D's secret check",
                 lambda: d.metric("cplugin_replica_secret_ok") == 0)
        if not d.logged("shared secret differs"):
            failures.append("D logged no secret error")
        if accepted(d.address, identity):
            failures.append("D accepted an identity sealed with another "
                            "secret")
        mine = handshake(d.address, "ownsecret")
        time.sleep(0.5)  # what D would have written, had it written
        if accepted(c.address, mine):
            failures.append("C accepted D's identity")
    except WaitTimeout as e:
        failures.append(str(e))
    finally:
        for r in replicas:
            stop_host(r.proc, r.name, failures)
        etcd.terminate()
        etcd.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    print("python replicas: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
