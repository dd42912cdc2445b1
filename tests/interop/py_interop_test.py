#!/usr/bin/python3
"""Interop: Python grpcio (a client the project did not write) against a
cplugin host. Performs the handshake with self_id, then calls an
authenticated method with a good token, a bad token and no token, and checks
the status codes.

usage: py_interop_test.py HOST_BINARY PROTO_ROOT TEST_PROTO_ROOT
"""
import os
import subprocess
import sys
import tempfile

import grpc

from hostproc import expect_code, start_host, stop_host


def generate(proto_root, test_proto_root, out):
    subprocess.run(
        ["protoc", "-I" + proto_root, "-I" + test_proto_root,
         "--python_out=" + out, "plugin/v1/handshake.proto",
         "cplugintest/v1/echo.proto"],
        check=True)
    sys.path.insert(0, out)


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
            handshake = channel.unary_unary(
                "/connectplugin.v1.HandshakeService/Handshake",
                request_serializer=handshake_pb2.HandshakeRequest.SerializeToString,
                response_deserializer=handshake_pb2.HandshakeResponse.FromString)
            echo = channel.unary_unary(
                "/cplugintest.v1.EchoService/Echo",
                request_serializer=echo_pb2.EchoRequest.SerializeToString,
                response_deserializer=echo_pb2.EchoResponse.FromString)

            request = handshake_pb2.HandshakeRequest(
                core_protocol_version=1, app_protocol_version=1,
                magic_cookie_key="CONNECT_PLUGIN",
                magic_cookie_value="d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e",
                requested_plugins=["echo"], self_id="py-client",
                self_version="1.0.0")
            reply = handshake(request, timeout=10)
            runtime_id, token = reply.runtime_id, reply.runtime_token
            print("handshake: runtime_id=%s plugins=%s" %
                  (runtime_id, [p.name for p in reply.plugins]))
            if not runtime_id.startswith("py-client-") or len(token) != 44:
                failures.append("unexpected identity %r" % runtime_id)
            if [p.name for p in reply.plugins] != ["echo"]:
                failures.append("plugin list %r" % list(reply.plugins))

            bad_cookie = handshake_pb2.HandshakeRequest()
            bad_cookie.CopyFrom(request)
            bad_cookie.magic_cookie_value = "wrong"
            expect_code(failures, "bad cookie", grpc.StatusCode.INVALID_ARGUMENT,
                        lambda: handshake(bad_cookie, timeout=10))

            good = [("x-plugin-runtime-id", runtime_id),
                    ("authorization", "Bearer " + token)]
            answer = echo(echo_pb2.EchoRequest(text="hi"), metadata=good,
                          timeout=10)
            print("good token: OK, identity=%s" % answer.identity)
            if answer.identity != runtime_id:
                failures.append("identity %r" % answer.identity)

            wrong = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
            bad = [("x-plugin-runtime-id", runtime_id),
                   ("authorization", "Bearer " + wrong)]
            expect_code(failures, "bad token", grpc.StatusCode.UNAUTHENTICATED,
                        lambda: echo(echo_pb2.EchoRequest(text="hi"),
                                     metadata=bad, timeout=10))
            expect_code(failures, "no token", grpc.StatusCode.UNAUTHENTICATED,
                        lambda: echo(echo_pb2.EchoRequest(text="hi"),
                                     timeout=10))
            channel.close()
        finally:
            stop_host(proc, "interop-host", failures)
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    print("python interop: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
