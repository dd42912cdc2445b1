#!/usr/bin/python3
"""Interop: Python grpcio, a client the project did not write, against the
admin service of urlshortener-host (key from CPLUGIN_ADMIN_KEY, no
manifest). Admin/Status with the key answers the host's version and no
plugins; without a key or with a wrong one UNAUTHENTICATED; with the
runtime token of an identity whose handshake presented the admin key
PERMISSION_DENIED; RemovePlugin and AddPlugin without managed plugins
FAILED_PRECONDITION, AddPlugin without a key UNAUTHENTICATED and with an
entry that does not parse INVALID_ARGUMENT;
Admin/Watch streams connectplugin.v1.WatchServiceEvent (UNAVAILABLE for a
type nobody provides) and refuses a call without the key.

usage: py_admin_test.py URLSHORTENER_HOST_BINARY PROTO_ROOT
"""
import os
import subprocess
import sys
import tempfile

import grpc

from hostproc import expect_code, stop_host
from waiting import LineReader, WaitTimeout, default_timeout

KEY = "python-admin-key-0123456789"
COOKIE = ("CONNECT_PLUGIN", "d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e")
ADMIN = "/cplugin.admin.v1.Admin/"


def main():
    binary, proto_root = sys.argv[1], sys.argv[2]
    failures = []
    with tempfile.TemporaryDirectory(prefix="cplugin-py-") as tmp:
        subprocess.run(["protoc", "-I" + proto_root, "--python_out=" + tmp,
                        "cplugin/admin/v1/admin.proto",
                        "plugin/v1/handshake.proto",
                        "plugin/v1/registry.proto"], check=True)
        sys.path.insert(0, tmp)
        from cplugin.admin.v1 import admin_pb2
        from plugin.v1 import handshake_pb2, registry_pb2

        env = dict(os.environ, CPLUGIN_ADMIN_KEY=KEY)
        proc = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        try:
            line = LineReader(proc.stdout, "urlshortener-host").next_line(
                "LISTENING")
        except WaitTimeout:
            proc.kill()
            raise
        address = line.split(" ", 1)[1]
        channel = grpc.insecure_channel(address)
        timeout = default_timeout()

        def unary(method, request_type, response_type):
            return channel.unary_unary(
                ADMIN + method,
                request_serializer=request_type.SerializeToString,
                response_deserializer=response_type.FromString)

        status = unary("Status", admin_pb2.StatusRequest,
                       admin_pb2.StatusResponse)
        remove = unary("RemovePlugin", admin_pb2.RemovePluginRequest,
                       admin_pb2.RemovePluginResponse)
        add = unary("AddPlugin", admin_pb2.AddPluginRequest,
                    admin_pb2.AddPluginResponse)
        watch = channel.unary_stream(
            ADMIN + "Watch",
            request_serializer=admin_pb2.WatchRequest.SerializeToString,
            response_deserializer=registry_pb2.WatchServiceEvent.FromString)
        key = [("x-api-key", KEY)]

        reply = status(admin_pb2.StatusRequest(), metadata=key,
                       timeout=timeout)
        print("Status: version %s, %d plugins" % (reply.host.version,
                                                  len(reply.plugins)))
        if not reply.host.version or reply.plugins:
            failures.append("Status: unexpected %r" % reply)

        expect_code(failures, "Status without a key",
                    grpc.StatusCode.UNAUTHENTICATED,
                    lambda: status(admin_pb2.StatusRequest(), timeout=timeout))
        expect_code(failures, "Status with a wrong key",
                    grpc.StatusCode.UNAUTHENTICATED,
                    lambda: status(admin_pb2.StatusRequest(),
                                   metadata=[("x-api-key", KEY + "x")],
                                   timeout=timeout))

        # A runtime identity whose handshake presented the admin key: its
        # token is a runtime's credential, never an operator's.
        handshake = channel.unary_unary(
            "/connectplugin.v1.HandshakeService/Handshake",
            request_serializer=handshake_pb2.HandshakeRequest.SerializeToString,
            response_deserializer=handshake_pb2.HandshakeResponse.FromString)
        hs = handshake(handshake_pb2.HandshakeRequest(
            core_protocol_version=1, app_protocol_version=1,
            magic_cookie_key=COOKIE[0], magic_cookie_value=COOKIE[1],
            self_id="py-admin", self_version="1.0.0"),
            metadata=key, timeout=timeout)
        token = [("x-plugin-runtime-id", hs.runtime_id),
                 ("authorization", "Bearer " + hs.runtime_token)]
        expect_code(failures, "Status with a runtime token",
                    grpc.StatusCode.PERMISSION_DENIED,
                    lambda: status(admin_pb2.StatusRequest(), metadata=token,
                                   timeout=timeout))

        expect_code(failures, "RemovePlugin without managed plugins",
                    grpc.StatusCode.FAILED_PRECONDITION,
                    lambda: remove(admin_pb2.RemovePluginRequest(name="api"),
                                   metadata=key, timeout=timeout))

        entry = '{"name": "audit", "path": "/bin/true"}'
        expect_code(failures, "AddPlugin without managed plugins",
                    grpc.StatusCode.FAILED_PRECONDITION,
                    lambda: add(admin_pb2.AddPluginRequest(name="audit",
                                                           entry=entry),
                                metadata=key, timeout=timeout))
        expect_code(failures, "AddPlugin without a key",
                    grpc.StatusCode.UNAUTHENTICATED,
                    lambda: add(admin_pb2.AddPluginRequest(name="audit",
                                                           entry=entry),
                                timeout=timeout))
        expect_code(failures, "AddPlugin with a broken entry",
                    grpc.StatusCode.INVALID_ARGUMENT,
                    lambda: add(admin_pb2.AddPluginRequest(
                        name="audit", entry='{"name": "audit", "path": '),
                        metadata=key, timeout=timeout))

        stream = watch(admin_pb2.WatchRequest(service_type="nobody"),
                       metadata=key, timeout=timeout)
        event = next(stream)
        print("Watch: %s" % registry_pb2.ServiceState.Name(event.state))
        if (event.service_type != "nobody" or event.state !=
                registry_pb2.SERVICE_STATE_UNAVAILABLE):
            failures.append("Watch: unexpected first event %r" % event)
        stream.cancel()
        expect_code(failures, "Watch without a key",
                    grpc.StatusCode.UNAUTHENTICATED,
                    lambda: next(watch(admin_pb2.WatchRequest(
                        service_type="nobody"), timeout=timeout)))
        channel.close()
        stop_host(proc, "urlshortener-host", failures)
    if failures:
        for f in failures:
            print("FAIL: " + f)
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
