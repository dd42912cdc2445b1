#!/usr/bin/python3
"""cplugin-host, the installed generic host, from the outside: its command
line (usage, refusals naming the bad flag), a plaintext host that Python
grpcio handshakes with and health-checks, the same over TLS with
certificates made by the openssl command (a plaintext client then fails),
--no-metrics, and SIGTERM ending it with status 0.

usage: py_cplugin_host_test.py CPLUGIN_HOST_BINARY
"""
import os
import subprocess
import sys
import tempfile

import grpc

from hostproc import fields, handshake_request, start_host, stop_host

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
HANDSHAKE = "/connectplugin.v1.HandshakeService/Handshake"


def raw(channel, path):
    return channel.unary_unary(path, request_serializer=None,
                               response_deserializer=None)


def check_serving(channel, what, failures):
    """grpc.health.v1 Check of the whole server: SERVING is b"\\x08\\x01"."""
    answer = raw(channel, HEALTH_CHECK)(b"", timeout=10)
    print("%s: health %r" % (what, answer))
    if answer != b"\x08\x01":
        failures.append("%s: health answered %r, not SERVING" % (what, answer))


def check_handshake(channel, what, failures):
    answer = raw(channel, HANDSHAKE)(handshake_request("py-caller"),
                                     timeout=10)
    runtime_id = fields(answer).get(10, b"").decode()  # runtime_id
    print("%s: runtime id %s" % (what, runtime_id))
    if not runtime_id.startswith("py-caller-"):
        failures.append("%s: no runtime identity in %r" % (what, answer))


def command_line(binary, failures):
    r = subprocess.run([binary, "--help"], capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0 or "usage: cplugin-host" not in r.stdout:
        failures.append("--help: %d %r" % (r.returncode, r.stdout))
    refusals = [
        (["--bogus", "x"], "--bogus: unknown option"),
        (["--listen"], "--listen: needs a value"),
        (["--metrics-port", "70000"], "--metrics-port: 0..65535"),
        (["--token-ttl-ms", "0"], "--token-ttl-ms: a positive number"),
        (["--tls-cert", "c.pem"], "needs both --tls-cert and --tls-key"),
        (["--tls-cert", "c", "--tls-key", "k", "--tls-require-client-cert"],
         "--tls-require-client-cert needs --tls-client-ca"),
        (["--redis-outage", "maybe"], "--redis-outage: local or deny"),
        (["--etcd", "127.0.0.1:2379"], "CPLUGIN_REPLICA_SECRET"),
    ]
    env = {k: v for k, v in os.environ.items()
           if k != "CPLUGIN_REPLICA_SECRET"}
    for args, want in refusals:
        r = subprocess.run([binary, *args], capture_output=True, text=True,
                           timeout=30, env=env)
        print("%s -> %d: %s" % (" ".join(args), r.returncode,
                                r.stderr.splitlines()[0] if r.stderr else ""))
        if r.returncode != 2 or want not in r.stderr:
            failures.append("%s: exit %d, stderr %r (want 2 and %r)" %
                            (args, r.returncode, r.stderr, want))
    # A start that fails (the address cannot be bound) exits 1, and says so.
    r = subprocess.run([binary, "--listen", "256.0.0.1:0"],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 1 or "cannot start the host" not in r.stderr:
        failures.append("bad listen address: exit %d, %r" %
                        (r.returncode, r.stderr))


def plaintext(binary, failures):
    proc, address = start_host(binary, "cplugin-host",
                               ["--listen", "127.0.0.1:0"])
    metrics = proc.lines.next_line("METRICS")
    if not metrics.startswith("METRICS "):
        failures.append("no METRICS line: %r" % metrics)
    with grpc.insecure_channel(address) as ch:
        check_serving(ch, "plaintext", failures)
        check_handshake(ch, "plaintext", failures)
    stop_host(proc, "cplugin-host", failures)


def make_certificates(tmp):
    """A CA and a server certificate for 127.0.0.1 and localhost."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, cwd=tmp,
                       capture_output=True)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key",
        "-out", "ca.pem", "-days", "2", "-subj", "/CN=cplugin test CA")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", "host.key", "-out", "host.csr", "-subj",
        "/CN=127.0.0.1")
    with open(os.path.join(tmp, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "host.csr", "-CA", "ca.pem", "-CAkey",
        "ca.key", "-CAcreateserial", "-out", "host.pem", "-days", "2",
        "-extfile", "san.ext")


def tls(binary, failures):
    with tempfile.TemporaryDirectory() as tmp:
        make_certificates(tmp)
        proc, address = start_host(
            binary, "cplugin-host (TLS)",
            ["--listen", "127.0.0.1:0", "--no-metrics",
             "--tls-cert", os.path.join(tmp, "host.pem"),
             "--tls-key", os.path.join(tmp, "host.key")])
        with open(os.path.join(tmp, "ca.pem"), "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        with grpc.secure_channel(address, creds) as ch:
            check_serving(ch, "TLS", failures)
            check_handshake(ch, "TLS", failures)
        with grpc.insecure_channel(address) as ch:
            try:
                raw(ch, HEALTH_CHECK)(b"", timeout=5)
                failures.append("a plaintext call reached the TLS host")
            except grpc.RpcError as e:
                print("plaintext to the TLS host: %s" % e.code().name)
        stop_host(proc, "cplugin-host (TLS)", failures)


def main():
    binary = sys.argv[1]
    failures = []
    command_line(binary, failures)
    plaintext(binary, failures)
    tls(binary, failures)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("cplugin-host: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
