#!/usr/bin/python3
"""Every gRPC call kind through a real host's router (urlshortener-host),
black-box, with Python grpcio as both the caller and the provider:

1. unary, server-streaming, client-streaming and bidirectional calls are
   relayed message for message, in both directions, with their statuses;
   a provider that speaks first and an empty client stream included;
2. a bidirectional flood (thousands of messages the caller sends before it
   reads any answer) arrives whole and in order: the router relays one
   message per direction at a time, so flow control, not a buffer, paces it;
3. a caller that cancels a bidirectional call mid-stream cancels the
   provider's side too.

usage: py_routed_streams_test.py HOST_BINARY PROTO_ROOT
"""
import queue
import sys
import tempfile
import threading
from concurrent import futures

import grpc

from hostproc import expect_code, generate_host_protos, start_host, stop_host
from waiting import default_timeout

COOKIE = ("CONNECT_PLUGIN", "d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e")
SERVICE = "/cplugintest.v1.EchoService/"
TIMEOUT = 60  # a hang guard, not a measurement


def provider():
    """The plugin: raw-bytes handlers of every kind."""
    state = {"cancelled": threading.Event()}

    def echo(request, context):
        return request

    def count(request, context):
        for i in range(5):
            yield request + bytes([i])

    def collect(requests, context):
        parts = list(requests)
        if b"fail" in parts:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "asked to fail")
        return b"".join(parts)

    def chat(requests, context):
        context.add_callback(state["cancelled"].set)
        for r in requests:
            yield r

    def greet(requests, context):
        # Speaks first: the caller sends nothing before this arrives.
        yield b"hello"
        for r in requests:
            yield b"re:" + r

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "cplugintest.v1.EchoService", {
            "Echo": grpc.unary_unary_rpc_method_handler(echo),
            "Count": grpc.unary_stream_rpc_method_handler(count),
            "Collect": grpc.stream_unary_rpc_method_handler(collect),
            "Chat": grpc.stream_stream_rpc_method_handler(chat),
            "Greet": grpc.stream_stream_rpc_method_handler(greet),
        }),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port, state


class Host:
    def __init__(self, address, handshake_pb2, registry_pb2):
        self.hs = handshake_pb2
        self.reg = registry_pb2
        self.channel = grpc.insecure_channel(address)

    def identity(self, self_id):
        handshake = self.channel.unary_unary(
            "/connectplugin.v1.HandshakeService/Handshake",
            request_serializer=self.hs.HandshakeRequest.SerializeToString,
            response_deserializer=self.hs.HandshakeResponse.FromString)
        reply = handshake(self.hs.HandshakeRequest(
            core_protocol_version=1, app_protocol_version=1,
            magic_cookie_key=COOKIE[0], magic_cookie_value=COOKIE[1],
            self_id=self_id, self_version="1.0.0"), timeout=TIMEOUT)
        return [("x-plugin-runtime-id", reply.runtime_id),
                ("authorization", "Bearer " + reply.runtime_token)]

    def register(self, who, port):
        register = self.channel.unary_unary(
            "/connectplugin.v1.ServiceRegistry/RegisterService",
            request_serializer=self.reg.RegisterServiceRequest.SerializeToString,
            response_deserializer=self.reg.RegisterServiceResponse.FromString)
        register(self.reg.RegisterServiceRequest(
            service_type="echo", version="1.0.0", endpoint_path=SERVICE,
            metadata={"base_url": "127.0.0.1:%d" % port}),
            metadata=who, timeout=TIMEOUT)


def check_kinds(host, caller, failures):
    md = caller + [("x-cplugin-service-type", "echo")]
    ch = host.channel
    got = ch.unary_unary(SERVICE + "Echo")(b"one", metadata=md,
                                           timeout=TIMEOUT)
    if got != b"one":
        failures.append("unary %r" % got)
    got = list(ch.unary_stream(SERVICE + "Count")(b"n", metadata=md,
                                                 timeout=TIMEOUT))
    if got != [b"n" + bytes([i]) for i in range(5)]:
        failures.append("server-streaming %r" % got)
    got = ch.stream_unary(SERVICE + "Collect")(
        iter([b"a", b"b", b"c"]), metadata=md, timeout=TIMEOUT)
    if got != b"abc":
        failures.append("client-streaming %r" % got)
    expect_code(failures, "client-streaming error",
                grpc.StatusCode.FAILED_PRECONDITION,
                lambda: ch.stream_unary(SERVICE + "Collect")(
                    iter([b"a", b"fail"]), metadata=md, timeout=TIMEOUT))

    # Bidirectional, interleaved: the next message goes out only after the
    # previous answer came back through the router.
    outbox = queue.Queue()
    answers = ch.stream_stream(SERVICE + "Chat")(
        iter(outbox.get, None), metadata=md, timeout=TIMEOUT)
    for i in range(50):
        outbox.put(b"m%d" % i)
        got = next(answers)
        if got != b"m%d" % i:
            failures.append("bidi echo %d was %r" % (i, got))
            break
    outbox.put(None)
    if list(answers) or answers.code() != grpc.StatusCode.OK:
        failures.append("bidi end %s" % answers.code())
    print("routed: unary, server-, client-streaming and bidi calls relayed")

    # A client stream of no messages at all, half-closed at once.
    got = ch.stream_unary(SERVICE + "Collect")(iter([]), metadata=md,
                                               timeout=TIMEOUT)
    if got != b"":
        failures.append("empty client stream %r" % got)

    # The provider speaks first: the router must open the call to it without
    # waiting for a request that only comes after the greeting.
    outbox = queue.Queue()
    answers = ch.stream_stream(SERVICE + "Greet")(
        iter(outbox.get, None), metadata=md, timeout=TIMEOUT)
    got = next(answers)
    if got != b"hello":
        failures.append("provider-first greeting %r" % got)
    outbox.put(b"x")
    got = next(answers)
    if got != b"re:x":
        failures.append("provider-first answer %r" % got)
    outbox.put(None)
    if list(answers) or answers.code() != grpc.StatusCode.OK:
        failures.append("provider-first end %s" % answers.code())
    print("routed: an empty client stream, a provider that speaks first")

    n = 3000
    flood = ch.stream_stream(SERVICE + "Chat")(
        iter(b"%06d" % i + b"x" * 1024 for i in range(n)), metadata=md,
        timeout=TIMEOUT)
    got = [m[:6] for m in flood]
    if got != [b"%06d" % i for i in range(n)]:
        failures.append("bidi flood: %d of %d in order" % (len(got), n))
    print("routed bidi flood: %d messages of 1 KiB, in order" % len(got))


def check_cancel(host, caller, state, failures):
    md = caller + [("x-cplugin-service-type", "echo")]
    outbox = queue.Queue()
    answers = host.channel.stream_stream(SERVICE + "Chat")(
        iter(outbox.get, None), metadata=md, timeout=TIMEOUT)
    outbox.put(b"hello")
    if next(answers) != b"hello":
        failures.append("cancel: no first echo")
    answers.cancel()
    if not state["cancelled"].wait(default_timeout()):
        failures.append("the provider never saw the caller's cancellation")
    outbox.put(None)
    print("routed bidi cancel reached the provider")


def main():
    binary, proto_root = sys.argv[1:3]
    failures = []
    with tempfile.TemporaryDirectory() as out:
        generate_host_protos(proto_root, out)
        from plugin.v1 import handshake_pb2, registry_pb2

        proc, address = start_host(binary, "urlshortener-host")
        server, port, state = provider()
        try:
            host = Host(address, handshake_pb2, registry_pb2)
            host.register(host.identity("echo-provider"), port)
            caller = host.identity("echo-caller")
            check_kinds(host, caller, failures)
            check_cancel(host, caller, state, failures)
            host.channel.close()
        finally:
            server.stop(0)
            stop_host(proc, "urlshortener-host", failures)
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    print("python routed streams: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
