#!/usr/bin/python3
"""Interop: client-streaming and bidirectional calls from Python grpcio (a
client the project did not write) to a cplugin host's C handlers
(EchoService.Collect and EchoService.Chat of interop-host), behind its
runtime-token authentication.

usage: py_streams_test.py HOST_BINARY PROTO_ROOT TEST_PROTO_ROOT
"""
import queue
import subprocess
import sys
import tempfile

import grpc

from hostproc import expect_code, start_host, stop_host

TIMEOUT = 30  # a hang guard, not a measurement


def generate(proto_root, test_proto_root, out):
    subprocess.run(
        ["protoc", "-I" + proto_root, "-I" + test_proto_root,
         "--python_out=" + out, "plugin/v1/handshake.proto",
         "cplugintest/v1/echo.proto"],
        check=True)
    sys.path.insert(0, out)


def handshake(channel, handshake_pb2):
    call = channel.unary_unary(
        "/connectplugin.v1.HandshakeService/Handshake",
        request_serializer=handshake_pb2.HandshakeRequest.SerializeToString,
        response_deserializer=handshake_pb2.HandshakeResponse.FromString)
    reply = call(handshake_pb2.HandshakeRequest(
        core_protocol_version=1, app_protocol_version=1,
        magic_cookie_key="CONNECT_PLUGIN",
        magic_cookie_value="d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e",
        requested_plugins=["echo"], self_id="py-streams",
        self_version="1.0.0"), timeout=TIMEOUT)
    return reply.runtime_id, [("x-plugin-runtime-id", reply.runtime_id),
                              ("authorization",
                               "Bearer " + reply.runtime_token)]


def check_collect(channel, echo_pb2, runtime_id, good, failures):
    collect = channel.stream_unary(
        "/cplugintest.v1.EchoService/Collect",
        request_serializer=echo_pb2.EchoRequest.SerializeToString,
        response_deserializer=echo_pb2.EchoResponse.FromString)
    parts = ["alpha-", "beta-", "gamma"]
    answer = collect(iter([echo_pb2.EchoRequest(text=p) for p in parts]),
                     metadata=good, timeout=TIMEOUT)
    print("collect: %r identity=%s" % (answer.text, answer.identity))
    if answer.text != "".join(parts):
        failures.append("collect text %r" % answer.text)
    if answer.identity != runtime_id:
        failures.append("collect identity %r" % answer.identity)

    empty = collect(iter([]), metadata=good, timeout=TIMEOUT)
    if empty.text != "":
        failures.append("collect of nothing %r" % empty.text)

    # Authentication happens at call start, before any message is read.
    expect_code(failures, "collect without a token",
                grpc.StatusCode.UNAUTHENTICATED,
                lambda: collect(iter([echo_pb2.EchoRequest(text="x")]),
                                timeout=TIMEOUT))
    # The handler answers early with an error while the client still sends.
    many = [echo_pb2.EchoRequest(text="ok")] * 3 + \
        [echo_pb2.EchoRequest(text="stop", fail_code=9)] + \
        [echo_pb2.EchoRequest(text="never read")] * 200
    expect_code(failures, "collect answered early",
                grpc.StatusCode.FAILED_PRECONDITION,
                lambda: collect(iter(many), metadata=good, timeout=TIMEOUT))

    # Bytes that are not an EchoRequest: INVALID_ARGUMENT, from the runtime.
    raw = channel.stream_unary("/cplugintest.v1.EchoService/Collect",
                               request_serializer=None,
                               response_deserializer=None)
    expect_code(failures, "collect of undecodable bytes",
                grpc.StatusCode.INVALID_ARGUMENT,
                lambda: raw(iter([b"\x0a\x05hello", b"\xff\xff\xff"]),
                            metadata=good, timeout=TIMEOUT))


def check_chat(channel, echo_pb2, good, failures):
    chat = channel.stream_stream(
        "/cplugintest.v1.EchoService/Chat",
        request_serializer=echo_pb2.EchoRequest.SerializeToString,
        response_deserializer=echo_pb2.EchoResponse.FromString)

    # Interleaved: each message is sent only after the previous echo came
    # back, which only works when the server answers as messages arrive.
    outbox = queue.Queue()
    responses = chat(iter(outbox.get, None), metadata=good, timeout=TIMEOUT)
    for i in range(20):
        outbox.put(echo_pb2.EchoRequest(text="line %d" % i))
        got = next(responses)
        if got.text != "line %d" % i:
            failures.append("chat echo %d was %r" % (i, got.text))
            break
    outbox.put(None)  # half-close
    rest = list(responses)
    if rest:
        failures.append("chat sent %d more after half-close" % len(rest))
    if responses.code() != grpc.StatusCode.OK:
        failures.append("chat ended %s" % responses.code())
    print("chat: 20 interleaved echoes, then OK")

    # A flood: many messages sent before any echo is read. The server reads
    # only while it has room to answer, so nothing is lost.
    n = 3000
    flood = chat(iter(echo_pb2.EchoRequest(text=str(i), payload=b"x" * 512)
                      for i in range(n)), metadata=good, timeout=TIMEOUT)
    texts = [r.text for r in flood]
    if texts != [str(i) for i in range(n)]:
        failures.append("flood: %d echoes, first gap at %s" % (
            len(texts), next((i for i, t in enumerate(texts)
                              if t != str(i)), None)))
    print("chat flood: %d of %d echoes in order" % (len(texts), n))

    expect_code(failures, "chat without a token",
                grpc.StatusCode.UNAUTHENTICATED,
                lambda: list(chat(iter([echo_pb2.EchoRequest(text="x")]),
                                  timeout=TIMEOUT)))
    expect_code(failures, "chat failing mid-stream", grpc.StatusCode.ABORTED,
                lambda: list(chat(iter([echo_pb2.EchoRequest(text="a"),
                                        echo_pb2.EchoRequest(text="b",
                                                             fail_code=10)]),
                                  metadata=good, timeout=TIMEOUT)))


def main():
    binary, proto_root, test_proto_root = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as out:
        generate(proto_root, test_proto_root, out)
        from plugin.v1 import handshake_pb2
        from cplugintest.v1 import echo_pb2

        proc, address = start_host(binary, "interop-host")
        failures = []
        try:
            channel = grpc.insecure_channel(address)
            runtime_id, good = handshake(channel, handshake_pb2)
            check_collect(channel, echo_pb2, runtime_id, good, failures)
            check_chat(channel, echo_pb2, good, failures)
            channel.close()
        finally:
            stop_host(proc, "interop-host", failures)
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    print("python streams: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
