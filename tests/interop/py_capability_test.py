#!/usr/bin/python3
"""Interop: Python grpcio, a client the project did not write, uses the
capability broker of urlshortener-host. Its handshake advertises the logger
capability; RequestCapability with the runtime token returns a grant
(24-character ID, 44-character token, endpoint /capabilities/logger/<id>);
Log through the grant's path and through the metadata form both land in
the host's log with the caller's runtime ID; a wrong token, another
runtime and no grant at all are UNAUTHENTICATED; an unknown capability and
a min_version above the host's are NOT_FOUND; a request without a runtime
token is UNAUTHENTICATED.

usage: py_capability_test.py URLSHORTENER_HOST_BINARY PROTO_ROOT
"""
import subprocess
import sys
import tempfile

import grpc

from hostproc import expect_code, stop_host
from waiting import LineReader, WaitTimeout, default_timeout

COOKIE = ("CONNECT_PLUGIN", "d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e")
LOG_PATH = "/capability.logger.v1.Logger/Log"


def main():
    binary, proto_root = sys.argv[1], sys.argv[2]
    failures = []
    with tempfile.TemporaryDirectory(prefix="cplugin-py-") as tmp:
        subprocess.run(["protoc", "-I" + proto_root, "--python_out=" + tmp,
                        "plugin/v1/handshake.proto", "plugin/v1/broker.proto",
                        "capability/logger/v1/logger.proto"], check=True)
        sys.path.insert(0, tmp)
        from plugin.v1 import broker_pb2, handshake_pb2
        from capability.logger.v1 import logger_pb2

        proc = subprocess.Popen([binary], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        out = LineReader(proc.stdout, "urlshortener-host")
        err = LineReader(proc.stderr, "urlshortener-host's log")
        try:
            address = out.next_line("LISTENING").split(" ", 1)[1]
        except WaitTimeout:
            proc.kill()
            raise
        channel = grpc.insecure_channel(address)
        timeout = default_timeout()

        handshake = channel.unary_unary(
            "/connectplugin.v1.HandshakeService/Handshake",
            request_serializer=handshake_pb2.HandshakeRequest.SerializeToString,
            response_deserializer=handshake_pb2.HandshakeResponse.FromString)
        request = channel.unary_unary(
            "/connectplugin.v1.CapabilityBroker/RequestCapability",
            request_serializer=broker_pb2.RequestCapabilityRequest
            .SerializeToString,
            response_deserializer=broker_pb2.RequestCapabilityResponse
            .FromString)

        def log_at(path):
            return channel.unary_unary(
                path,
                request_serializer=logger_pb2.LogRequest.SerializeToString,
                response_deserializer=logger_pb2.LogResponse.FromString)

        def join(self_id):
            hs = handshake(handshake_pb2.HandshakeRequest(
                core_protocol_version=1, app_protocol_version=1,
                magic_cookie_key=COOKIE[0], magic_cookie_value=COOKIE[1],
                self_id=self_id, self_version="1.0.0"), timeout=timeout)
            return hs, [("x-plugin-runtime-id", hs.runtime_id),
                        ("authorization", "Bearer " + hs.runtime_token)]

        hs, me = join("pycap")
        offered = [(c.type, c.version, c.endpoint)
                   for c in hs.host_capabilities]
        print("host_capabilities:", offered)
        if ("logger", "1.0.0", "/capabilities/logger") not in offered:
            failures.append("no logger capability advertised: %r" % offered)

        grant = request(broker_pb2.RequestCapabilityRequest(
            capability_type="logger", min_version="1.0.0", reason="py"),
            metadata=me, timeout=timeout).grant
        print("grant:", grant.grant_id, grant.endpoint_url, grant.version)
        if (len(grant.grant_id) != 24 or len(grant.bearer_token) != 44 or
                grant.endpoint_url != "/capabilities/logger/" +
                grant.grant_id or grant.capability_type != "logger"):
            failures.append("unexpected grant %r" % grant)
        with_grant = [("x-plugin-runtime-id", hs.runtime_id),
                      ("authorization", "Bearer " + grant.bearer_token)]

        log_at(grant.endpoint_url + LOG_PATH)(logger_pb2.LogRequest(
            level="info", message="py-capability path form",
            fields={"k": "v"}), metadata=with_grant, timeout=timeout)
        log_at(LOG_PATH)(logger_pb2.LogRequest(
            level="error", message="py-capability metadata form"),
            metadata=with_grant + [
                ("x-cplugin-capability-grant", grant.grant_id),
                ("x-cplugin-capability-type", "logger")], timeout=timeout)

        tok = grant.bearer_token
        wrong_token = tok[:10] + ("B" if tok[10] == "A" else "A") + tok[11:]
        expect_code(failures, "Log with a wrong token",
                    grpc.StatusCode.UNAUTHENTICATED,
                    lambda: log_at(grant.endpoint_url + LOG_PATH)(
                        logger_pb2.LogRequest(level="info", message="x"),
                        metadata=[("x-plugin-runtime-id", hs.runtime_id),
                                  ("authorization", "Bearer " +
                                   wrong_token)],
                        timeout=timeout))
        other, other_md = join("pyother")
        expect_code(failures, "Log with another runtime's grant",
                    grpc.StatusCode.UNAUTHENTICATED,
                    lambda: log_at(grant.endpoint_url + LOG_PATH)(
                        logger_pb2.LogRequest(level="info", message="x"),
                        metadata=[("x-plugin-runtime-id", other.runtime_id),
                                  ("authorization", "Bearer " +
                                   grant.bearer_token)], timeout=timeout))
        expect_code(failures, "Log without a grant",
                    grpc.StatusCode.UNIMPLEMENTED,
                    lambda: log_at(LOG_PATH)(
                        logger_pb2.LogRequest(level="info", message="x"),
                        metadata=me, timeout=timeout))
        expect_code(failures, "RequestCapability for secrets",
                    grpc.StatusCode.NOT_FOUND,
                    lambda: request(broker_pb2.RequestCapabilityRequest(
                        capability_type="secrets"), metadata=me,
                        timeout=timeout))
        expect_code(failures, "RequestCapability min_version 9.0.0",
                    grpc.StatusCode.NOT_FOUND,
                    lambda: request(broker_pb2.RequestCapabilityRequest(
                        capability_type="logger", min_version="9.0.0"),
                        metadata=me, timeout=timeout))
        expect_code(failures, "RequestCapability without a token",
                    grpc.StatusCode.UNAUTHENTICATED,
                    lambda: request(broker_pb2.RequestCapabilityRequest(
                        capability_type="logger"), timeout=timeout))

        # Both lines in the host's log, with the caller's runtime ID.
        want = ["py-capability path form", "py-capability metadata form"]
        try:
            while want:
                line = err.next_line("the logged lines %r" % want)
                for w in list(want):
                    if w in line and "runtime_id=" + hs.runtime_id in line:
                        print("host log:", line)
                        want.remove(w)
        except WaitTimeout as e:
            failures.append(str(e))
        channel.close()
        stop_host(proc, "urlshortener-host", failures)
    if failures:
        for f in failures:
            print("FAIL: " + f)
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
