#!/usr/bin/python3
"""The router's authority and its targets, black-box: a real host process
(urlshortener-host) and Python grpcio plugins and callers.

1. 260 providers register one after another on distinct base_urls (as
   plugins restarting on ephemeral ports), are each routed to once and
   unregister; a provider on a fresh port is then reachable (the router's
   table of 256 addresses once never freed a slot).
2. A routed call's binary trailer reaches the caller byte for byte.
3. Routing outside the provider's endpoint_path, or to PluginControl, is
   PERMISSION_DENIED and never reaches the provider.
4. base_urls outside the host's policy are refused at registration.

usage: py_router_test.py HOST_BINARY PROTO_ROOT
"""
import socket
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc

from hostproc import expect_code, generate_host_protos, start_host, stop_host

PROVIDERS = 260
PER_IDENTITY = 5  # registrations per identity (the burst allows 64)
COOKIE = ("CONNECT_PLUGIN", "d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e")
BLOB = b"\x00bin\x00ary\x00"


def patiently(call):
    """Runs call(), waiting out the host's rate limits as a well-behaved
    client does: after RESOURCE_EXHAUSTED, the retry-after-ms it was given
    (this test makes more handshakes and registrations than the host's
    per-peer and per-identity bursts admit at once)."""
    for _ in range(100):
        try:
            return call()
        except grpc.RpcError as e:
            after = dict(e.trailing_metadata() or ()).get("retry-after-ms")
            if e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or after is None:
                raise
            time.sleep(min(int(after), 2000) / 1000.0)
    raise SystemExit("still rate limited after 100 tries")


class Host:
    """A channel to the host with the two services this test uses."""

    def __init__(self, address, handshake_pb2, registry_pb2):
        self.hs = handshake_pb2
        self.reg = registry_pb2
        self.channel = grpc.insecure_channel(address)
        self._handshake = self.channel.unary_unary(
            "/connectplugin.v1.HandshakeService/Handshake",
            request_serializer=handshake_pb2.HandshakeRequest.SerializeToString,
            response_deserializer=handshake_pb2.HandshakeResponse.FromString)
        self._register = self.channel.unary_unary(
            "/connectplugin.v1.ServiceRegistry/RegisterService",
            request_serializer=registry_pb2.RegisterServiceRequest.SerializeToString,
            response_deserializer=registry_pb2.RegisterServiceResponse.FromString)
        self._unregister = self.channel.unary_unary(
            "/connectplugin.v1.ServiceRegistry/UnregisterService",
            request_serializer=registry_pb2.UnregisterServiceRequest.SerializeToString,
            response_deserializer=registry_pb2.UnregisterServiceResponse.FromString)

    def identity(self, self_id):
        """A runtime identity: the metadata its calls carry."""
        request = self.hs.HandshakeRequest(
            core_protocol_version=1, app_protocol_version=1,
            magic_cookie_key=COOKIE[0], magic_cookie_value=COOKIE[1],
            self_id=self_id, self_version="1.0.0")
        reply = patiently(lambda: self._handshake(request, timeout=30))
        return [("x-plugin-runtime-id", reply.runtime_id),
                ("authorization", "Bearer " + reply.runtime_token)]

    def register(self, who, service_type, path, base_url):
        request = self.reg.RegisterServiceRequest(
            service_type=service_type, version="1.0.0", endpoint_path=path,
            metadata={"base_url": base_url})
        return patiently(lambda: self._register(
            request, metadata=who, timeout=30)).registration_id

    def unregister(self, who, registration_id):
        request = self.reg.UnregisterServiceRequest(
            registration_id=registration_id)
        patiently(lambda: self._unregister(request, metadata=who, timeout=30))

    def call(self, who, path, service_type, request=b"", timeout=30):
        """A routed call (metadata form) with raw bytes; returns the call."""
        stub = self.channel.unary_unary(path)
        md = who + [("x-cplugin-service-type", service_type)]
        return stub.with_call(request, metadata=md, timeout=timeout)


def echo_provider():
    """A plugin's server: /cplugintest.v1.EchoService/Echo answers with the
    request and a binary trailer; a PluginControl that records any call."""
    seen = {"echo": 0, "control": 0, "caller": None}
    lock = threading.Lock()

    def echo(request, context):
        with lock:
            seen["echo"] += 1
            seen["caller"] = dict(context.invocation_metadata()).get(
                "x-plugin-caller-id")
        context.set_trailing_metadata((("x-blob-bin", BLOB),))
        return request

    def control(request, context):
        with lock:
            seen["control"] += 1
        return b""

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler(
            "cplugintest.v1.EchoService",
            {"Echo": grpc.unary_unary_rpc_method_handler(echo)}),
        grpc.method_handlers_generic_handler(
            "connectplugin.v1.PluginControl",
            {"Shutdown": grpc.unary_unary_rpc_method_handler(control)}),
    ))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port, seen


def churn(host, failures):
    """PROVIDERS registrations on distinct dead addresses, each routed to
    once and unregistered."""
    caller = host.identity("churn-caller")
    # Dead addresses that stay dead: ports bound here but never listened on
    # refuse connections, and no other process (a parallel test's server)
    # can take them while the sockets are held.
    held = []
    n = 0
    while n < PROVIDERS:
        who = host.identity("churn-%d" % n)
        for _ in range(min(PER_IDENTITY, PROVIDERS - n)):
            dead = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            dead.bind(("127.0.0.1", 0))
            held.append(dead)
            service_type = "churn%d" % n
            reg_id = host.register(who, service_type, "/churn.v1.Svc/",
                                   "127.0.0.1:%d" % dead.getsockname()[1])
            try:
                host.call(caller, "/churn.v1.Svc/Get", service_type,
                          timeout=10)
                failures.append("churn %d: a dead address answered" % n)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE:
                    failures.append("churn %d: %s %s" %
                                    (n, e.code().name, e.details()))
            host.unregister(who, reg_id)
            n += 1
    for dead in held:
        dead.close()
    print("churn: %d providers registered, routed to and unregistered" % n)


def main():
    binary, proto_root = sys.argv[1:3]
    failures = []
    with tempfile.TemporaryDirectory() as out:
        generate_host_protos(proto_root, out)
        from plugin.v1 import handshake_pb2, registry_pb2

        proc, address = start_host(binary, "urlshortener-host")
        server, port, seen = echo_provider()
        try:
            host = Host(address, handshake_pb2, registry_pb2)
            churn(host, failures)

            # 1. A provider on a fresh port after the churn.
            provider = host.identity("echo-provider")
            caller = host.identity("echo-caller")
            host.register(provider, "echo", "/cplugintest.v1.EchoService/",
                          "127.0.0.1:%d" % port)
            answer, call = host.call(caller, "/cplugintest.v1.EchoService/Echo",
                                     "echo", b"\x0a\x02hi")
            print("after churn: echo answered %r" % answer)
            if answer != b"\x0a\x02hi" or seen["echo"] != 1:
                failures.append("echo after churn: %r, %d calls" %
                                (answer, seen["echo"]))
            caller_id = dict(caller)["x-plugin-runtime-id"]
            if seen["caller"] != caller_id:
                failures.append("x-plugin-caller-id %r" % seen["caller"])
            # 2. The binary trailer, byte for byte.
            trailers = dict(call.trailing_metadata())
            if trailers.get("x-blob-bin") != BLOB:
                failures.append("binary trailer %r" % trailers.get("x-blob-bin"))

            # 3. Outside the endpoint path, and the plugin's own control.
            expect_code(failures, "method outside endpoint_path",
                        grpc.StatusCode.PERMISSION_DENIED,
                        lambda: host.call(caller, "/cplugintest.v1.Other/Get",
                                          "echo"))
            expect_code(failures, "PluginControl/Shutdown (metadata form)",
                        grpc.StatusCode.PERMISSION_DENIED,
                        lambda: host.call(
                            caller, "/connectplugin.v1.PluginControl/Shutdown",
                            "echo"))
            provider_id = dict(provider)["x-plugin-runtime-id"]
            expect_code(failures, "PluginControl/Shutdown (path form)",
                        grpc.StatusCode.PERMISSION_DENIED,
                        lambda: host.channel.unary_unary(
                            "/services/echo/%s/connectplugin.v1.PluginControl"
                            "/Shutdown" % provider_id)(
                                b"", metadata=caller, timeout=30))
            if seen["control"] != 0 or seen["echo"] != 1:
                failures.append("provider saw %r" % seen)

            # 4. base_urls outside the default policy.
            for url, code in [
                    ("10.9.8.7:80", grpc.StatusCode.PERMISSION_DENIED),
                    ("example.com:443", grpc.StatusCode.PERMISSION_DENIED),
                    ("unix:/tmp/x.sock", grpc.StatusCode.PERMISSION_DENIED),
                    ("dns:///example.com:443",
                     grpc.StatusCode.INVALID_ARGUMENT),
                    ("ipv4:127.0.0.1:1,127.0.0.1:2",
                     grpc.StatusCode.INVALID_ARGUMENT)]:
                expect_code(failures, "base_url %s" % url, code,
                            lambda url=url: host.register(
                                caller, "proxy", "/x.v1.X/", url))
            host.channel.close()
        finally:
            server.stop(0)
            stop_host(proc, "urlshortener-host", failures)
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    print("python router test: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
