#!/usr/bin/python3
"""Provider liveness, black-box: a real host process (urlshortener-host, the
host's default liveness settings) and Python grpcio plugins and watchers.

1. A provider whose server stops (as when its process is killed) is found
   gone by the host's probes: its watchers see UNAVAILABLE and calls routed
   to its type fail instead of reaching a dead address.
2. A restarted provider with the same self_id registers: watchers see
   AVAILABLE naming it and routed calls reach it.
3. Another restart while the previous one is still up takes over at once:
   the watcher's next event names the newcomer and no call reaches the
   predecessor.

usage: py_liveness_test.py HOST_BINARY PROTO_ROOT
"""
import queue
import sys
import tempfile
import threading
from concurrent import futures

import grpc

from hostproc import generate_host_protos, start_host, stop_host
from waiting import WaitTimeout, next_item
from py_router_test import Host, patiently


class Provider:
    """A plugin's server answering /cplugintest.v1.EchoService/Echo; counts
    the calls it got."""

    def __init__(self):
        self.calls = 0
        self.lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        self.server.add_generic_rpc_handlers((
            grpc.method_handlers_generic_handler(
                "cplugintest.v1.EchoService",
                {"Echo": grpc.unary_unary_rpc_method_handler(self._echo)}),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def _echo(self, request, context):
        with self.lock:
            self.calls += 1
        return request

    def count(self):
        with self.lock:
            return self.calls


class Watch:
    """WatchService events of one type, read on a thread into a queue."""

    def __init__(self, host, who, registry_pb2, service_type):
        self.events = queue.Queue()
        self.seen = []
        stub = host.channel.unary_stream(
            "/connectplugin.v1.ServiceRegistry/WatchService",
            request_serializer=registry_pb2.WatchServiceRequest.SerializeToString,
            response_deserializer=registry_pb2.WatchServiceEvent.FromString)
        self.call = stub(registry_pb2.WatchServiceRequest(
            service_type=service_type), metadata=who, timeout=300)
        self.names = registry_pb2.ServiceState
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for ev in self.call:
                self.events.put((self.names.Name(ev.state),
                                 ev.endpoint.provider_id))
        except grpc.RpcError:
            pass

    def until(self, state, provider=None):
        """Reads events until one in `state` (naming `provider` if given)."""
        while True:
            ev = next_item(self.events, "%s %s" % (state, provider or ""),
                           lambda: repr(self.seen))
            self.seen.append(ev)
            if ev[0].endswith(state) and (provider is None or
                                          ev[1] == provider):
                return ev


def routed(host, who):
    """An Echo routed by the host to a provider of "echo"."""
    return host.call(who, "/cplugintest.v1.EchoService/Echo", "echo",
                     b"\x0a\x02hi", timeout=10)


def start_provider(host, self_id):
    provider = Provider()
    who = host.identity(self_id)
    host.register(who, "echo", "/cplugintest.v1.EchoService/",
                  "127.0.0.1:%d" % provider.port)
    return provider, dict(who)["x-plugin-runtime-id"]


def main():
    binary, proto_root = sys.argv[1:3]
    failures = []
    with tempfile.TemporaryDirectory() as out:
        generate_host_protos(proto_root, out)
        from plugin.v1 import handshake_pb2, registry_pb2

        proc, address = start_host(binary, "urlshortener-host")
        providers = []
        watch = None
        try:
            host = Host(address, handshake_pb2, registry_pb2)
            caller = host.identity("liveness-caller")
            watch = Watch(host, caller, registry_pb2, "echo")
            watch.until("UNAVAILABLE")

            # 1. The first provider, then its server stops.
            first, first_id = start_provider(host, "storage")
            providers.append(first)
            watch.until("AVAILABLE", first_id)
            routed(host, caller)
            first.server.stop(0)
            watch.until("UNAVAILABLE")
            print("stopped provider: watchers saw UNAVAILABLE")
            try:
                routed(host, caller)
                failures.append("a call reached the gone provider's type")
            except grpc.RpcError as e:
                print("routed call after it went: %s" % e.code().name)
                if e.code() != grpc.StatusCode.UNAVAILABLE:
                    failures.append("routed call after it went: %s" %
                                    e.code().name)

            # 2. Restarted with the same self_id.
            second, second_id = start_provider(host, "storage")
            providers.append(second)
            watch.until("AVAILABLE", second_id)
            patiently(lambda: routed(host, caller))
            if second.count() != 1:
                failures.append("restarted provider got %d calls" %
                                second.count())

            # 3. Restarted again while the previous one still runs.
            third, third_id = start_provider(host, "storage")
            providers.append(third)
            watch.until("AVAILABLE", third_id)
            for _ in range(5):
                patiently(lambda: routed(host, caller))
            if third.count() != 5 or second.count() != 1:
                failures.append("after takeover: newcomer %d calls, "
                                "predecessor %d" % (third.count(),
                                                    second.count()))
            print("takeover: %d calls reached the newcomer" % third.count())
        except WaitTimeout as e:
            failures.append(str(e))
        finally:
            if watch is not None:
                watch.call.cancel()
            for p in providers:
                p.server.stop(0)
            stop_host(proc, "urlshortener-host", failures)
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    print("python liveness test: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
