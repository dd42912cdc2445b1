#!/usr/bin/python3
"""Plugins in C, Python and Node in one registry of a real C host
(urlshortener-host), each its own process:

  C: logger-plugin, api-plugin, url-client, kv-host --host
  Python: examples/python-plugin/storage_plugin.py (grpcio)
  Node: examples/node-plugin/kv_plugin.js (@grpc/grpc-js),
        examples/node-plugin/connect_client.js (connect-node, gRPC mode)

1. The Python and Node plugins start before the host and wait for it.
2. Every plugin is discovered; each plugin's watch sees the others'
   providers; a round trip through api (C) -> storage (Python) -> kv (Node)
   works; kv-host reaches the Node kv with every call kind; the connect
   client reaches api and storage; the host's log shows routed calls in all
   six directions between the languages; errors pass through with their
   codes.
3. The Node kv stops: the Python plugin's watch says so, calls fail with a
   clear status; a new one starts and the Python plugin uses it.
4. The host restarts (token lifetime 3 s): the plugins join again by
   themselves, then renew their identities (same runtime IDs after 3
   lifetimes) and keep serving.
5. SIGTERM: every plugin exits 0 and unregisters.

usage: py_mixed_languages_test.py HOST LOGGER API URL_CLIENT KV_HOST REPO
"""
import os
import re
import subprocess
import sys
import tempfile
import time

import grpc

from hostproc import (Process, expect_code, free_port, generate_host_protos,
                      print_log_tails)
from waiting import WaitTimeout, wait_exit, wait_for

COOKIE = ("CONNECT_PLUGIN", "d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e")
# The language of a runtime, by the self_id its ID starts with.
LANGUAGE = [("kv-host-", "C"), ("connect-client-", "Node"), ("kv-", "Node"),
            ("storage-", "Python"), ("api-", "C"), ("logger-", "C")]
ROUTE = re.compile(r"ROUTER routed call: caller=(\S+) service=\S+ "
                   r"provider=(\S+) method=(\S+)")


def language(runtime_id):
    for prefix, lang in LANGUAGE:
        if runtime_id.startswith(prefix):
            return lang
    return "?"


class Mixed:
    """The host and its plugins, by name; logs in `logdir`."""

    def __init__(self, args, logdir):
        (self.host_bin, self.logger_bin, self.api_bin, self.url_client,
         self.kv_host, repo) = args
        self.storage_py = os.path.join(repo, "examples/python-plugin/"
                                       "storage_plugin.py")
        self.kv_js = os.path.join(repo, "examples/node-plugin/kv_plugin.js")
        self.connect_js = os.path.join(repo, "examples/node-plugin/"
                                       "connect_client.js")
        self.logdir = logdir
        self.listen = "127.0.0.1:%d" % free_port()
        self.procs = {}

    def env(self, **extra):
        env = dict(os.environ, HOST_URL=self.listen,
                   CONNECTPLUGIN_DISABLE_TLS_WARNING="1")
        env.update(extra)
        return env

    def argv(self, name, host_args):
        return {
            "host": [self.host_bin, "--listen", self.listen, *host_args],
            "logger": [self.logger_bin],
            "api": [self.api_bin],
            "storage": ["/usr/bin/python3", self.storage_py],
            "kv": ["node", self.kv_js],
        }[name]

    def start(self, name, *host_args):
        env = self.env(CPLUGIN_LOG_LEVEL="debug") if name == "host" else \
            self.env()
        self.procs[name] = Process(name, self.argv(name, host_args), env,
                                   self.logdir)
        return self.procs[name]

    def stop(self, name, failures=None):
        proc = self.procs.pop(name).proc
        proc.terminate()
        try:
            code = wait_exit(proc, "%s (SIGTERM)" % name)
        except WaitTimeout as e:
            code = str(e)
        if failures is not None and code != 0:
            failures.append("%s exited with %s" % (name, code))

    def log(self, name):
        with open(os.path.join(self.logdir, name + ".err")) as f:
            return f.read()

    def joined(self, name):
        """How often the plugin's link joined the host, from its log."""
        return self.log(name).count("joined the host as")

    def run(self, argv, timeout=30):
        return subprocess.run(argv, capture_output=True, text=True,
                              timeout=timeout, env=self.env())

    def shorten(self, url):
        r = self.run([self.url_client, "--api", self.procs["api"].address,
                      "shorten", url])
        if r.returncode != 0:
            raise AssertionError("shorten: " + r.stderr.strip())
        return r.stdout.strip()

    def connect(self, *args):
        r = self.run(["node", self.connect_js, "--host", self.listen, *args])
        if r.returncode != 0:
            raise AssertionError("connect_client %s: %s" %
                                 (" ".join(args), r.stderr.strip()))
        return r.stdout.strip()

    def round_trip(self, url):
        """C url-client -> api (C) -> storage (Python) -> kv (Node), then
        back through the connect client (Node) -> api -> ...; raises on any
        failure."""
        code = self.shorten(url)
        got = self.connect("resolve", code)
        if got != url:
            raise AssertionError("resolve %s = %r, want %r" % (code, got, url))
        return code

    def wait_round_trip(self, what):
        last = []

        def works():
            try:
                self.round_trip("https://example.com/%s/%d" %
                                (what, time.monotonic_ns()))
                return True
            except (AssertionError, subprocess.TimeoutExpired) as e:
                last[:] = [str(e)]
                return False
        try:
            wait_for("a round trip (%s)" % what, works)
        except WaitTimeout as e:
            raise WaitTimeout("%s; last error: %s" % (e, last)) from None

    def directions(self):
        """{(caller language, provider language)} of the host's routes."""
        return {(language(m.group(1)), language(m.group(2)))
                for m in ROUTE.finditer(self.log("host"))}

    def stop_all(self):
        for name in ("api", "storage", "kv", "logger", "host"):
            if name in self.procs:
                self.stop(name)


class Caller:
    """The test's own runtime at the host: discovery and routed calls."""

    def __init__(self, address, pb):
        self.pb = pb
        self.channel = grpc.insecure_channel(address)

    def _unary(self, path, request_cls, response_cls):
        return self.channel.unary_unary(
            path, request_serializer=request_cls.SerializeToString,
            response_deserializer=response_cls.FromString)

    def identity(self):
        hs = self.pb.handshake
        reply = self._unary("/connectplugin.v1.HandshakeService/Handshake",
                            hs.HandshakeRequest, hs.HandshakeResponse)(
            hs.HandshakeRequest(
                core_protocol_version=1, app_protocol_version=1,
                magic_cookie_key=COOKIE[0], magic_cookie_value=COOKIE[1],
                self_id="mixed-test", self_version="1.0.0"), timeout=10)
        return [("x-plugin-runtime-id", reply.runtime_id),
                ("authorization", "Bearer " + reply.runtime_token)]

    def provider(self, service_type):
        """The provider ID DiscoverService names, or None (NOT_FOUND)."""
        reg = self.pb.registry
        try:
            reply = self._unary(
                "/connectplugin.v1.ServiceRegistry/DiscoverService",
                reg.DiscoverServiceRequest, reg.DiscoverServiceResponse)(
                reg.DiscoverServiceRequest(service_type=service_type),
                metadata=self.identity(), timeout=10)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return reply.endpoint.provider_id

    def routed(self, service_type, path, request):
        """A routed unary call with raw bytes."""
        return self.channel.unary_unary(path)(
            request, timeout=10, metadata=self.identity() + [
                ("x-cplugin-service-type", service_type)])


def printed(proc, pattern):
    """Reads the process's output until a line matches; returns the match."""
    while True:
        line = proc.out.next_line("a line matching %r" % pattern)
        m = re.match(pattern, line)
        if m:
            return m


def check_all_languages(mixed, caller, failures):
    ids = {t: caller.provider(t) for t in ("storage", "kv", "logger", "api")}
    print("providers: %s" % ids)
    for service_type, prefix in (("storage", "storage-"), ("kv", "kv-"),
                                 ("logger", "logger-"), ("api", "api-")):
        if not (ids[service_type] or "").startswith(prefix):
            failures.append("%s provider %r" % (service_type,
                                                ids[service_type]))
    # Watch events across languages: each plugin's watch names the other's
    # provider.
    m = printed(mixed.procs["storage"], r"WATCH kv AVAILABLE (\S+)$")
    if m.group(1) != ids["kv"]:
        failures.append("Python saw kv %s, registry has %s" % (m.group(1),
                                                              ids["kv"]))
    m = printed(mixed.procs["kv"], r"WATCH storage AVAILABLE (\S+)$")
    if m.group(1) != ids["storage"]:
        failures.append("Node saw storage %s, registry has %s" %
                        (m.group(1), ids["storage"]))
    watched = mixed.connect("watch", "storage")
    if watched != "WATCH storage AVAILABLE %s" % ids["storage"]:
        failures.append("connect client watched %r" % watched)

    mixed.wait_round_trip("all languages")
    code = mixed.shorten("https://example.com/mixed/get")
    if mixed.connect("get", code) != "https://example.com/mixed/get":
        failures.append("connect client: storage get %s" % code)
    r = mixed.run([mixed.kv_host, "--host", mixed.listen])
    print(r.stdout.strip().splitlines()[-1] if r.stdout else r.stderr)
    if r.returncode != 0:
        failures.append("kv-host --host: %s %s" % (r.stdout, r.stderr))

    # Errors pass through the router with the provider's code.
    expect_code(failures, "Python storage, empty code",
                grpc.StatusCode.INVALID_ARGUMENT,
                lambda: caller.routed("storage", "/storage.v1.Storage/Store",
                                      b"\x12\x01x"))
    expect_code(failures, "Node kv, empty key",
                grpc.StatusCode.INVALID_ARGUMENT,
                lambda: caller.routed("kv", "/kv.v1.KVService/Get", b""))

    want = {(a, b) for a in ("C", "Python", "Node")
            for b in ("C", "Python", "Node") if a != b}
    try:
        wait_for("routes in all six directions",
                 lambda: want <= mixed.directions())
    except WaitTimeout:
        failures.append("directions routed: %s, missing %s" %
                        (sorted(mixed.directions()),
                         sorted(want - mixed.directions())))
    print("directions routed: %s" % " ".join(
        "%s->%s" % d for d in sorted(mixed.directions() & want)))
    return ids


def check_kv_restart(mixed, failures):
    mixed.stop("kv", failures)
    printed(mixed.procs["storage"], r"WATCH kv UNAVAILABLE -$")
    print("kv (Node) stopped: the Python plugin's watch said UNAVAILABLE")
    try:
        mixed.shorten("https://example.com/no-kv")
        failures.append("shorten without a kv provider succeeded")
    except AssertionError as e:
        print("without kv: %s" % e)
        if "kv" not in str(e):
            failures.append("the error does not name kv: %s" % e)
    mixed.start("kv")
    m = printed(mixed.procs["storage"], r"WATCH kv AVAILABLE (\S+)$")
    print("a new kv (Node) %s: the Python plugin's watch saw it" % m.group(1))
    mixed.wait_round_trip("new kv")


def check_host_restart(mixed, caller, failures):
    before = {n: mixed.joined(n) for n in ("storage", "kv")}
    mixed.stop("host", failures)
    mixed.start("host", "--token-ttl-ms", "3000")
    for name in ("storage", "kv"):
        wait_for("%s to join the restarted host" % name,
                 lambda n=name: mixed.joined(n) > before[n])
    mixed.wait_round_trip("after host restart")
    ids = {t: caller.provider(t) for t in ("storage", "kv")}
    joins = {n: mixed.joined(n) for n in ("storage", "kv")}
    print("after the host restart: %s; waiting 3 token lifetimes" % ids)
    time.sleep(9.5)  # the scenario itself: tokens of 3 s must be renewed
    after = {t: caller.provider(t) for t in ("storage", "kv")}
    if after != ids:
        failures.append("runtime IDs changed: %s -> %s" % (ids, after))
    if {n: mixed.joined(n) for n in ("storage", "kv")} != joins:
        failures.append("a plugin joined again instead of renewing: %s" %
                        {n: mixed.log(n) for n in ("storage", "kv")})
    mixed.wait_round_trip("after 3 token lifetimes")
    r = mixed.run([mixed.kv_host, "--host", mixed.listen])
    if r.returncode != 0:
        failures.append("kv-host after renewals: %s" % r.stdout)
    print("identities renewed, same runtime IDs, calls still work")


def main():
    args = sys.argv[1:]
    if len(args) != 6:
        sys.exit(__doc__.rsplit("usage: ", 1)[1])
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        generate_host_protos(os.path.join(args[5], "proto"), tmp)
        from plugin.v1 import handshake_pb2, registry_pb2
        pb = type("pb", (), {"handshake": handshake_pb2,
                             "registry": registry_pb2})
        mixed = Mixed(args, tmp)
        try:
            # 1. Plugins before their host: they wait for it.
            mixed.start("storage")
            mixed.start("kv")
            time.sleep(0.5)  # the scenario itself: the host comes later
            mixed.start("host")
            mixed.start("logger")
            mixed.start("api")
            caller = Caller(mixed.listen, pb)
            for name in ("storage", "kv"):
                wait_for("%s to join the host" % name,
                         lambda n=name: mixed.joined(n) == 1)
            check_all_languages(mixed, caller, failures)
            check_kv_restart(mixed, failures)
            check_host_restart(mixed, caller, failures)
            # 5. Plugins stop cleanly and unregister.
            for name in ("api", "storage", "kv"):
                mixed.stop(name, failures)
            for service_type in ("storage", "kv"):
                if caller.provider(service_type) is not None:
                    failures.append("%s still registered after SIGTERM" %
                                    service_type)
            mixed.stop("logger", failures)
            mixed.stop("host", failures)
        except (WaitTimeout, AssertionError) as e:
            failures.append(str(e))
        finally:
            mixed.stop_all()
            if failures:
                print_log_tails(tmp, ("host", "storage", "kv", "api"))
    for f in failures:
        print("FAIL: " + f)
    print("mixed languages: %s" % ("FAILED" if failures else "ok"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
