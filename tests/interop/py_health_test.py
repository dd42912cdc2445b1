#!/usr/bin/python3
"""Interop: Python grpcio's standard grpc.health.v1 client (what
grpc_health_probe and Kubernetes gRPC probes speak) against a cplugin
cp_health. Checks Check (SERVING, NOT_FOUND for an unknown service) and
Watch (SERVICE_UNKNOWN, then each change, then NOT_SERVING on shutdown).

usage: py_health_test.py HEALTH_HOST_BINARY PROTO_ROOT
"""
import importlib.util
import os
import queue
import subprocess
import sys
import tempfile
import threading

import grpc

from waiting import LineReader, WaitTimeout, next_item, wait_exit


def generate(proto_root, out):
    """Returns the generated health_pb2 module. Loaded from its file: the
    name grpc.health would resolve inside grpcio's own package."""
    subprocess.run(["protoc", "-I" + proto_root, "--python_out=" + out,
                    "grpc/health/v1/health.proto"], check=True)
    path = os.path.join(out, "grpc", "health", "v1", "health_pb2.py")
    spec = importlib.util.spec_from_file_location("cplugin_health_pb2", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Host:
    def __init__(self, binary):
        self.proc = subprocess.Popen([binary], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.out = LineReader(self.proc.stdout, "health-host")
        try:
            line = self.out.next_line("LISTENING")
        except WaitTimeout:
            self.proc.kill()
            raise
        if not line.startswith("LISTENING "):
            self.proc.kill()
            raise SystemExit("host did not start: %r" % line)
        self.address = line.split(" ", 1)[1]

    def command(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        answer = self.out.next_line("the answer to %r" % text)
        if answer != "OK":
            raise SystemExit("host answered %r to %r" % (answer, text))

    def close(self):
        self.proc.stdin.close()
        return wait_exit(self.proc, "health-host (end of input)")


def main():
    binary, proto_root = sys.argv[1:3]
    failures = []
    with tempfile.TemporaryDirectory() as out:
        pb = generate(proto_root, out)

        host = Host(binary)
        try:
            channel = grpc.insecure_channel(host.address)
            check = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=pb.HealthCheckRequest.SerializeToString,
                response_deserializer=pb.HealthCheckResponse.FromString)
            watch = channel.unary_stream(
                "/grpc.health.v1.Health/Watch",
                request_serializer=pb.HealthCheckRequest.SerializeToString,
                response_deserializer=pb.HealthCheckResponse.FromString)
            S = pb.HealthCheckResponse.ServingStatus

            reply = check(pb.HealthCheckRequest(service=""), timeout=10)
            print("Check(''): %s" % S.Name(reply.status))
            if reply.status != S.Value("SERVING"):
                failures.append("overall status %r" % reply.status)
            try:
                check(pb.HealthCheckRequest(service="kv"), timeout=10)
                failures.append("Check(kv) succeeded")
            except grpc.RpcError as e:
                print("Check(kv): %s (%s)" % (e.code().name, e.details()))
                if e.code() != grpc.StatusCode.NOT_FOUND:
                    failures.append("Check(kv) gave %s" % e.code())

            events = queue.Queue()
            stream = watch(pb.HealthCheckRequest(service="kv"), timeout=30)

            def reader():
                try:
                    for msg in stream:
                        events.put(S.Name(msg.status))
                except grpc.RpcError as e:
                    events.put("END %s" % e.code().name)
                events.put("END")

            threading.Thread(target=reader, daemon=True).start()

            seen = []

            # The host has answered OK, but the update travels on the
            # stream: wait for it.
            def expect(want):
                got = next_item(events, "Watch(kv) to send %s" % want,
                                lambda: "updates so far %r" % seen)
                seen.append(got)
                print("Watch(kv): %s" % got)
                if got != want:
                    failures.append("watch: got %s, want %s" % (got, want))

            expect("SERVICE_UNKNOWN")
            host.command("set kv SERVING")
            expect("SERVING")
            host.command("set kv SERVING")  # unchanged: not repeated
            host.command("set kv NOT_SERVING")
            expect("NOT_SERVING")
            host.command("set kv SERVING")
            expect("SERVING")
            reply = check(pb.HealthCheckRequest(service="kv"), timeout=10)
            if reply.status != S.Value("SERVING"):
                failures.append("Check(kv) after set: %r" % reply.status)
            host.command("shutdown")
            expect("NOT_SERVING")
            reply = check(pb.HealthCheckRequest(service=""), timeout=10)
            print("Check('') after shutdown: %s" % S.Name(reply.status))
            if reply.status != S.Value("NOT_SERVING"):
                failures.append("overall after shutdown %r" % reply.status)
            stream.cancel()
            channel.close()
        except WaitTimeout as e:
            failures.append(str(e))
        finally:
            try:
                code = host.close()
            except WaitTimeout as e:
                failures.append(str(e))
                code = 0
        if code != 0:
            failures.append("host exited with %d" % code)
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    print("python health interop: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
