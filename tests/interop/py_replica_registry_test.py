#!/usr/bin/python3
"""Host replicas sharing one registry through a real etcd, black-box: two
urlshortener-host replicas and Python grpcio plugins, watchers and callers.

1. A provider registers at replica A; a watcher at replica B hears of it,
   Discover at B finds it, and a call routed through B reaches it.
2. How long a registration at A takes to reach a watcher at B: p50 and
   p99 over REGISTRATIONS registrations (printed; docs/performance.md
   quotes them).
3. Ownership holds across replicas: at B, another runtime cannot remove
   the registration (NOT_FOUND, as for an unknown ID); its owner can, and
   it leaves A too while B's watcher hears it go.
4. A replica started later lists what the others registered, and a
   replica killed leaves what was registered through it routable at the
   others.
5. A value put under the prefix without the secret is rejected (counted)
   and installs nothing.

usage: py_replica_registry_test.py URLSHORTENER_HOST PROTO_ROOT
"""
import base64
import json
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.request

import grpc

from hostproc import free_port, generate_host_protos, stop_host
from py_replicas_test import Replica, metrics, start_etcd
from py_router_test import Host, echo_provider
from waiting import WaitTimeout, next_item, wait_for

REGISTRATIONS = 200
PER_IDENTITY = 5  # registrations per identity (the burst allows 64)
ECHO = "/cplugintest.v1.EchoService/"
SERVICE_AVAILABLE, SERVICE_UNAVAILABLE = 1, 2  # registry.proto ServiceState


class Registry:
    """DiscoverService and WatchService of one replica."""

    def __init__(self, host, registry_pb2):
        self.pb = registry_pb2
        self._discover = host.channel.unary_unary(
            "/connectplugin.v1.ServiceRegistry/DiscoverService",
            request_serializer=registry_pb2.DiscoverServiceRequest.SerializeToString,
            response_deserializer=registry_pb2.DiscoverServiceResponse.FromString)
        self._watch = host.channel.unary_stream(
            "/connectplugin.v1.ServiceRegistry/WatchService",
            request_serializer=registry_pb2.WatchServiceRequest.SerializeToString,
            response_deserializer=registry_pb2.WatchServiceEvent.FromString)

    def discover(self, who, service_type):
        """The endpoint, or None when the replica knows no provider."""
        try:
            return self._discover(self.pb.DiscoverServiceRequest(
                service_type=service_type), metadata=who, timeout=10).endpoint
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.NOT_FOUND:
                raise
            return None

    def accepts(self, who):
        """Whether this replica accepts the identity `who`."""
        try:
            self.discover(who, "nothing")
            return True
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise
            return False

    def watch(self, who, service_type):
        """The call and a queue of its events, read on a thread."""
        call = self._watch(self.pb.WatchServiceRequest(
            service_type=service_type), metadata=who)
        events = queue.Queue()

        def pump():
            try:
                for event in call:
                    events.put(event)
            except grpc.RpcError:
                pass
        threading.Thread(target=pump, daemon=True).start()
        return call, events


def next_state(events, state, what):
    """The next event in `state`, skipping others."""
    while True:
        event = next_item(events, what)
        if event.state == state:
            return event


def etcd_put(port, key, value):
    """A put through etcd's JSON gateway, as anyone with access could."""
    body = json.dumps({"key": base64.b64encode(key).decode(),
                       "value": base64.b64encode(value).decode()}).encode()
    request = urllib.request.Request(
        "http://127.0.0.1:%d/v3/kv/put" % port, data=body,
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:
        r.read()


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100.0 * len(ordered)))]


def visibility(a, b, watcher, failures):
    """Registers at A REGISTRATIONS times, each time timing how long B's
    watcher takes to hear of it, then unregisters (and B's watcher hears
    that too)."""
    call, events = b.registry.watch(watcher, "vis")
    next_state(events, SERVICE_UNAVAILABLE, "B's first event for vis")
    delays = []
    who = None
    for i in range(REGISTRATIONS):
        if i % PER_IDENTITY == 0:
            who = a.host.identity("visibility-%d" % i)
        reg_id = a.host.register(who, "vis", "/vis.v1.S/", "127.0.0.1:9")
        registered = time.monotonic()  # it exists at A from here on
        next_state(events, SERVICE_AVAILABLE, "vis %d at B" % i)
        delays.append(1000 * (time.monotonic() - registered))
        a.host.unregister(who, reg_id)
        next_state(events, SERVICE_UNAVAILABLE, "vis %d gone at B" % i)
    call.cancel()
    print("registration at A visible to a watcher at B: p50 %.1f ms, "
          "p99 %.1f ms, max %.1f ms (%d registrations)" %
          (percentile(delays, 50), percentile(delays, 99), max(delays),
           len(delays)))
    if len(delays) != REGISTRATIONS:
        failures.append("visibility: %d of %d" % (len(delays),
                                                  REGISTRATIONS))


def attach(replica, handshake_pb2, registry_pb2):
    replica.host = Host(replica.address, handshake_pb2, registry_pb2)
    replica.registry = Registry(replica.host, registry_pb2)
    return replica


def main():
    binary, proto_root = sys.argv[1:3]
    failures = []
    tmp = tempfile.mkdtemp(prefix="py-replica-registry-")
    out = os.path.join(tmp, "gen")
    os.mkdir(out)
    generate_host_protos(proto_root, out)
    from plugin.v1 import handshake_pb2, registry_pb2

    client_port, peer_port = free_port(), free_port()
    etcd = start_etcd(tmp, client_port, peer_port)
    server, port, seen = echo_provider()
    replicas = []
    try:
        a = attach(Replica(binary, "replica-a", client_port, tmp),
                   handshake_pb2, registry_pb2)
        b = attach(Replica(binary, "replica-b", client_port, tmp),
                   handshake_pb2, registry_pb2)
        replicas += [a, b]
        provider = a.host.identity("echo-provider")
        watcher = b.host.identity("echo-watcher")
        caller = b.host.identity("echo-caller")
        wait_for("the provider's identity (from A) known at B",
                 lambda: b.registry.accepts(provider))

        # 1. Registered at A: watched, discovered and routed at B.
        watch, events = b.registry.watch(watcher, "echo")
        next_state(events, SERVICE_UNAVAILABLE,
                   "B's first watch event (no provider yet)")
        reg_id = a.host.register(provider, "echo", ECHO,
                                 "127.0.0.1:%d" % port)
        event = next_state(events, SERVICE_AVAILABLE,
                           "B's watcher hearing of A's registration")
        provider_id = provider[0][1]
        if event.endpoint.provider_id != provider_id:
            failures.append("B's watch event names %r" %
                            event.endpoint.provider_id)
        found = b.registry.discover(caller, "echo")
        if found is None or found.provider_id != provider_id or \
                found.metadata.get("base_url") != "127.0.0.1:%d" % port:
            failures.append("Discover at B: %r" % found)
        reply, _ = b.host.call(caller, ECHO + "Echo", "echo", b"via B")
        if reply != b"via B" or seen["echo"] != 1:
            failures.append("routed at B: %r, provider saw %r" %
                            (reply, seen))

        # 2. Visibility delay.
        visibility(a, b, watcher, failures)

        # 3. Ownership across replicas.
        try:
            b.host.unregister(caller, reg_id)
            failures.append("B let another runtime remove the registration")
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.NOT_FOUND:
                failures.append("another runtime's removal at B: %s" %
                                e.code())
        b.host.unregister(provider, reg_id)
        next_state(events, SERVICE_UNAVAILABLE,
                   "B's watcher hearing the registration go")
        wait_for("the registration gone from A",
                 lambda: a.registry.discover(provider, "echo") is None)
        watch.cancel()

        # 4. Through A again, then A killed: C, started later, lists it, and
        # it stays routable at B and C.
        a.host.register(provider, "echo", ECHO, "127.0.0.1:%d" % port)
        wait_for("the new registration at B",
                 lambda: b.registry.discover(caller, "echo") is not None)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
        replicas.remove(a)
        c = attach(Replica(binary, "replica-c", client_port, tmp),
                   handshake_pb2, registry_pb2)
        replicas.append(c)
        c_caller = c.host.identity("c-caller")
        wait_for("A's registration listed at C",
                 lambda: c.registry.discover(c_caller, "echo") is not None)
        for name, r, who in (("B", b, caller), ("C", c, c_caller)):
            reply, _ = r.host.call(who, ECHO + "Echo", "echo", name.encode())
            if reply != name.encode():
                failures.append("routed at %s after A died: %r" %
                                (name, reply))

        # 5. A forged value: rejected, nothing installed.
        before = metrics(b.metrics_port).get(
            "cplugin_replica_values_rejected_total", 0)
        etcd_put(client_port, b"/cplugin/reg/reg-00000000000000aa",
                 b"\x01 not sealed by any replica")
        wait_for("B counting the forged value", lambda: metrics(
            b.metrics_port).get("cplugin_replica_values_rejected_total",
                                0) > before)
        m = metrics(b.metrics_port)
        print("B: %s" % {k: v for k, v in sorted(m.items())
                         if "registrations" in k})
        if m.get("cplugin_replica_registrations_adopted_total", 0) < 2:
            failures.append("B's registration metrics: %s" % m)
    except (WaitTimeout, grpc.RpcError) as e:
        failures.append(str(e))
    finally:
        server.stop(0)
        for r in replicas:
            r.host.channel.close()
            stop_host(r.proc, r.name, failures)
        etcd.terminate()
        etcd.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    print("python replica registry: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
