#!/usr/bin/python3
"""The URL-shortener demo heals itself, black-box: the real host and plugin
processes, driven and watched from Python grpcio.

1. Provider crash: the storage plugin is killed (SIGKILL). A watcher of
   `storage` sees UNAVAILABLE; a new storage plugin is started and the
   watcher sees AVAILABLE; shorten and resolve reach the new one.
2. Host restart: the host is killed (SIGKILL) and started again on the same
   address. Shorten and resolve work again with no plugin restarted.
3. Token expiry: a host issuing 2 s tokens, the demo under 200 calls/s for
   15 s (about seven token lifetimes): not one call fails.

How long each recovery took is printed (RECOVERED lines); the test waits
for it with the shared deadline (waiting.py), never asserting a time.
Every process is stopped at the end, also when a step fails.

usage: py_resilience_test.py HOST LOGGER STORAGE API PROTO_ROOT
"""
import os
import queue
import sys
import tempfile
import threading
import time

import grpc

from hostproc import Process, free_port, generate_host_protos, print_log_tails
from waiting import WaitTimeout, default_timeout, next_item

COOKIE = ("CONNECT_PLUGIN", "d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e")
SHORTEN = "/api.v1.API/Shorten"
RESOLVE = "/api.v1.API/Resolve"


def string_field(value):
    """A message whose field 1 is the string `value` (the API's requests)."""
    data = value.encode()
    size = len(data)
    varint = bytearray()
    while True:
        byte = size & 0x7F
        size >>= 7
        varint.append(byte | (0x80 if size else 0))
        if not size:
            break
    return b"\x0a" + bytes(varint) + data


def first_string(message):
    """Field 1 of a message made of one string field (the API's responses)."""
    if not message:
        return ""
    if message[0] != 0x0A:
        raise ValueError("unexpected response %r" % message)
    size, shift, at = 0, 0, 1
    while True:
        byte = message[at]
        at += 1
        size |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return message[at:at + size].decode()


class Demo:
    """The URL-shortener host and its three plugins, each a process."""

    def __init__(self, bins, logdir, host_args=()):
        self.bins = bins
        self.logdir = logdir
        self.listen = "127.0.0.1:%d" % free_port()
        self.host_args = list(host_args)
        self.procs = {}
        self.api = None
        try:
            self.start_host()
            for name in ("logger", "storage", "api"):
                self.start_plugin(name)
        except BaseException:
            self.stop()
            raise
        self.api = grpc.insecure_channel(self.procs["api"].address)

    def env(self):
        env = dict(os.environ)
        env["HOST_URL"] = self.listen
        env["CONNECTPLUGIN_DISABLE_TLS_WARNING"] = "1"
        return env

    def start_host(self):
        self.procs["host"] = Process(
            "host", [self.bins["host"], "--listen", self.listen] +
            self.host_args, self.env(), self.logdir)

    def start_plugin(self, name):
        self.procs[name] = Process(name, [self.bins[name]], self.env(),
                                   self.logdir)

    def shorten(self, url, timeout=10):
        reply = self.api.unary_unary(SHORTEN)(string_field(url),
                                              timeout=timeout)
        return first_string(reply)

    def resolve(self, code, timeout=10):
        reply = self.api.unary_unary(RESOLVE)(string_field(code),
                                              timeout=timeout)
        return first_string(reply)

    def round_trip(self, url):
        """Shortens `url` and resolves the code; raises on any failure."""
        code = self.shorten(url)
        got = self.resolve(code)
        if got != url:
            raise AssertionError("resolve(%s) = %r, want %r" % (code, got, url))
        return code

    def stop(self):
        """Plugins first (they unregister), then the host."""
        if self.api is not None:
            self.api.close()
        for name in ("api", "storage", "logger", "host"):
            if name in self.procs:
                self.procs[name].stop()


def wait_round_trip(demo, what):
    """Retries a shorten + resolve until one succeeds or the deadline
    passes; returns the seconds it took."""
    start = time.monotonic()
    deadline = start + default_timeout()
    last = None
    attempt = 0
    while time.monotonic() < deadline:
        attempt += 1
        try:
            demo.round_trip("https://example.com/%s/%d" % (what, attempt))
            return time.monotonic() - start
        except grpc.RpcError as e:
            last = "%s: %s" % (e.code().name, e.details())
        time.sleep(0.05)  # pacing between attempts, not synchronisation
    raise WaitTimeout("timed out after %g s waiting for %s; last error: %s"
                      % (default_timeout(), what, last))


class Watcher:
    """A WatchService stream on `service_type` with its own identity; the
    states it receives go to a queue."""

    def __init__(self, address, pb, service_type):
        handshake_pb2, registry_pb2 = pb
        self.channel = grpc.insecure_channel(address)
        handshake = self.channel.unary_unary(
            "/connectplugin.v1.HandshakeService/Handshake",
            request_serializer=handshake_pb2.HandshakeRequest.SerializeToString,
            response_deserializer=handshake_pb2.HandshakeResponse.FromString)
        reply = handshake(handshake_pb2.HandshakeRequest(
            core_protocol_version=1, app_protocol_version=1,
            magic_cookie_key=COOKIE[0], magic_cookie_value=COOKIE[1],
            self_id="storage-watcher", self_version="1.0.0"), timeout=30)
        watch = self.channel.unary_stream(
            "/connectplugin.v1.ServiceRegistry/WatchService",
            request_serializer=registry_pb2.WatchServiceRequest.SerializeToString,
            response_deserializer=registry_pb2.WatchServiceEvent.FromString)
        self.names = registry_pb2.ServiceState
        self.stream = watch(
            registry_pb2.WatchServiceRequest(service_type=service_type),
            metadata=[("x-plugin-runtime-id", reply.runtime_id),
                      ("authorization", "Bearer " + reply.runtime_token)])
        self.states = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for event in self.stream:
                self.states.put(self.names.Name(event.state))
        except grpc.RpcError as e:
            self.states.put("ended: %s" % e.code().name)

    def wait_for(self, state):
        while True:
            got = next_item(self.states, "a watcher to see %s" % state,
                            lambda: repr(self.seen))
            self.seen.append(got)
            if got == state:
                return
            if got.startswith("ended"):
                raise WaitTimeout("the watch ended waiting for %s: %r"
                                  % (state, self.seen))

    def close(self):
        self.stream.cancel()
        self.channel.close()


def provider_crash(demo, pb):
    watcher = Watcher(demo.listen, pb, "storage")
    try:
        watcher.wait_for("SERVICE_STATE_AVAILABLE")
        old = demo.procs["storage"]
        old.kill()
        killed = time.monotonic()
        watcher.wait_for("SERVICE_STATE_UNAVAILABLE")
        noticed = time.monotonic() - killed
        demo.start_plugin("storage")
        took = wait_round_trip(demo, "provider-crash")
        watcher.wait_for("SERVICE_STATE_AVAILABLE")
        print("RECOVERED provider crash: the host marked it UNAVAILABLE "
              "%.2f s after the kill; calls reach the new storage plugin "
              "%.2f s after it started; watcher saw %r"
              % (noticed, took, watcher.seen))
    finally:
        watcher.close()


def host_restart(demo):
    plugins = {n: demo.procs[n].proc.pid for n in ("logger", "storage", "api")}
    demo.procs["host"].kill()
    demo.start_host()
    took = wait_round_trip(demo, "host-restart")
    print("RECOVERED host restart: shorten + resolve work %.2f s after the "
          "host started again" % took)
    for name, pid in plugins.items():
        proc = demo.procs[name]
        if proc.proc.pid != pid or not proc.alive():
            raise AssertionError("%s plugin was restarted or died" % name)


def token_expiry(demo, rate=200, seconds=15, workers=8):
    """`rate` shorten calls per second for `seconds`, from `workers`
    threads; returns the failures."""
    total = rate * seconds
    start = time.monotonic()
    failures = []
    done = [0]
    lock = threading.Lock()
    slots = iter(range(total))

    def work():
        while True:
            with lock:
                i = next(slots, None)
            if i is None:
                return
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # the load's pace
            try:
                demo.shorten("https://example.com/load/%d" % i)
            except grpc.RpcError as e:
                with lock:
                    failures.append("call %d at %.2f s: %s: %s" % (
                        i, time.monotonic() - start, e.code().name,
                        e.details()))
            with lock:
                done[0] += 1

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    print("token expiry: %d calls in %.1f s (%.0f/s) with 2 s tokens, %d "
          "failed" % (done[0], elapsed, done[0] / elapsed, len(failures)))
    return failures[:20]


def main():
    if len(sys.argv) != 6:
        raise SystemExit(__doc__)
    bins = dict(zip(("host", "logger", "storage", "api"), sys.argv[1:5]))
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        generate_host_protos(sys.argv[5], tmp)
        from plugin.v1 import handshake_pb2, registry_pb2
        pb = (handshake_pb2, registry_pb2)

        scenarios = (
            ([], [lambda demo: provider_crash(demo, pb), host_restart]),
            (["--token-ttl-ms", "2000"], [token_expiry]),
        )
        for host_args, steps in scenarios:
            try:
                demo = Demo(bins, tmp, host_args)
            except (WaitTimeout, OSError) as e:
                failures.append("demo with host %r: %s" % (host_args, e))
                continue
            try:
                demo.round_trip("https://example.com/first")
                for step in steps:
                    try:
                        failures += step(demo) or []
                    except (WaitTimeout, AssertionError, grpc.RpcError) as e:
                        failures.append(str(e))
            except (WaitTimeout, AssertionError, grpc.RpcError) as e:
                failures.append(str(e))
            finally:
                demo.stop()
        if failures:
            print_log_tails(tmp, ("host", "logger", "storage", "api"))
    if failures:
        for f in failures:
            print("FAIL:", f)
        sys.exit(1)
    print("resilience: every scenario recovered")


if __name__ == "__main__":
    main()
