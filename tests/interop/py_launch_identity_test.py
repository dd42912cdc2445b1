#!/usr/bin/python3
"""Interop: Python grpcio as the launcher of a Model A plugin
(docs/launch.md). Starts logger-plugin with CPLUGIN_LISTEN (a Unix socket),
CPLUGIN_HOST_URL and CPLUGIN_LAUNCH_SECRET, reads the handshake line, and
calls PluginIdentity/GetPluginInfo without the secret, with a wrong one
(UNAUTHENTICATED both) and with it (the plugin's declaration). Then stops
the plugin, still waiting for its identity, with PluginControl/Shutdown.

usage: py_launch_identity_test.py LOGGER_PLUGIN_BINARY PROTO_ROOT
"""
import os
import subprocess
import sys
import tempfile
import time

import grpc

from waiting import LineReader, WaitTimeout, default_timeout, wait_exit

SECRET = "cHl0aG9uLWxhdW5jaGVyLXNlY3JldA"
WRONG = "cHl0aG9uLWxhdW5jaGVyLXNlY3JldB"


def generate(proto_root, out):
    subprocess.run(["protoc", "-I" + proto_root, "--python_out=" + out,
                    "plugin/v1/handshake.proto", "plugin/v1/plugininfo.proto",
                    "plugin/v1/lifecycle.proto"], check=True)
    sys.path.insert(0, out)


def main():
    binary, proto_root = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="cplugin-py-") as tmp:
        generate(proto_root, tmp)
        from plugin.v1 import lifecycle_pb2, plugininfo_pb2
        sock = os.path.join(tmp, "p.sock")
        env = {"PATH": os.environ.get("PATH", ""),
               "CPLUGIN_LISTEN": "unix:" + sock,
               "CPLUGIN_HOST_URL": "127.0.0.1:1",
               "CPLUGIN_LAUNCH_SECRET": SECRET}
        proc = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        try:
            line = LineReader(proc.stdout, "logger-plugin").next_line(
                "the handshake line")
            if line != "cplugin|1|unix|" + sock:
                raise SystemExit("unexpected handshake line %r" % line)
            channel = grpc.insecure_channel("unix:" + sock)
            info = channel.unary_unary(
                "/connectplugin.v1.PluginIdentity/GetPluginInfo",
                request_serializer=plugininfo_pb2.GetPluginInfoRequest
                .SerializeToString,
                response_deserializer=plugininfo_pb2.GetPluginInfoResponse
                .FromString)
            for md in (None, [("x-cplugin-launch-secret", WRONG)]):
                try:
                    info(plugininfo_pb2.GetPluginInfoRequest(), metadata=md,
                         timeout=default_timeout())
                    raise SystemExit("GetPluginInfo without the secret passed")
                except grpc.RpcError as e:
                    if (e.code() != grpc.StatusCode.UNAUTHENTICATED or
                            e.details() != "launch secret required"):
                        raise SystemExit("unexpected %s %r" %
                                         (e.code(), e.details()))
            # The runtime publishes its info right after the server started:
            # retry UNAVAILABLE until the shared deadline.
            deadline = time.monotonic() + default_timeout()
            while True:
                try:
                    resp = info(plugininfo_pb2.GetPluginInfoRequest(),
                                metadata=[("x-cplugin-launch-secret", SECRET)],
                                timeout=default_timeout())
                    break
                except grpc.RpcError as e:
                    if (e.code() != grpc.StatusCode.UNAVAILABLE or
                            time.monotonic() > deadline):
                        raise
                    time.sleep(0.05)  # a retry interval, not a synchronisation
            if (resp.self_id != "logger" or resp.self_version != "1.0.0" or
                    [p.type for p in resp.provides] != ["logger"] or
                    resp.provides[0].path != "/capability.logger.v1.Logger/"
                    or list(resp.requires) or dict(resp.metadata)):
                raise SystemExit("unexpected info %r" % resp)
            shutdown = channel.unary_unary(
                "/connectplugin.v1.PluginControl/Shutdown",
                request_serializer=lifecycle_pb2.ShutdownRequest
                .SerializeToString,
                response_deserializer=lifecycle_pb2.ShutdownResponse
                .FromString)
            ack = shutdown(lifecycle_pb2.ShutdownRequest(reason="py"),
                           metadata=[("x-cplugin-launch-secret", SECRET)],
                           timeout=default_timeout())
            if not ack.acknowledged:
                raise SystemExit("Shutdown not acknowledged")
            channel.close()
            # Still waiting for its identity: the wait ends and the plugin
            # exits (1: its runtime never joined).
            code = wait_exit(proc, "logger-plugin after Shutdown")
            if code == 0 or code < 0:
                raise SystemExit("plugin exit status %d" % code)
        except (WaitTimeout, SystemExit, grpc.RpcError):
            proc.kill()
            proc.wait()
            raise
    print("OK")


if __name__ == "__main__":
    main()
