#!/usr/bin/python3
"""storage-plugin, in Python: provides the URL shortener's "storage" service
(storage.v1.Storage) to the C api-plugin, keeps the codes in a "kv" provider
(kv.v1.KVService, the Node plugin of examples/node-plugin) and logs each
operation to the "logger" provider (the C logger-plugin): every call goes
through the host's router.

    HOST_URL=127.0.0.1:PORT storage_plugin.py [--listen ADDRESS]

It serves on ADDRESS (default 127.0.0.1:0, a free port), prints
"LISTENING <address>", joins the host (waiting for it if it is not up yet),
prints "WATCH <type> <state> <provider>" for each event of the services it
uses, and runs until SIGINT or SIGTERM (or the host's PluginControl/Shutdown),
then unregisters. After a host restart it joins again by itself.
"""
import argparse
import os
import signal
import sys
import threading
from concurrent import futures

import grpc

import protos
from cplugin_link import HostLink

CODE_MAX = 32  # as the C storage-plugin
URL_MAX = 2048
KV_PREFIX = "url/"


_output_lock = threading.Lock()


def say(line, stream=None):
    """One whole line on stdout (or `stream`): the watch threads print
    concurrently, and print() writes a line and its newline separately."""
    stream = stream or sys.stdout
    with _output_lock:
        stream.write(line + "\n")
        stream.flush()


class Storage:
    """storage.v1.Storage over the routed kv service."""

    def __init__(self, pb, link):
        self.pb = pb
        self.link = link

    def _log(self, message, code):
        request = self.pb.logger.LogRequest(level="info", message=message,
                                            fields={"code": code})
        # Fire and forget: a missing logger is not the caller's problem.
        self.link.call_later("logger", "/capability.logger.v1.Logger/Log",
                             request, self.pb.logger.LogResponse, timeout=2)

    @staticmethod
    def _budget(context):
        """The caller's remaining deadline, passed on to the kv call."""
        remaining = context.time_remaining()
        return 5.0 if remaining is None else max(remaining, 0.001)

    def _kv(self, context, method, request, response_cls):
        try:
            return self.link.call("kv", "/kv.v1.KVService/" + method,
                                  request, response_cls,
                                  timeout=self._budget(context))
        except grpc.RpcError as e:
            # The kv provider's status, as this call's: NOT_FOUND (no kv
            # registered), UNAVAILABLE (kv down), DEADLINE_EXCEEDED...
            context.abort(e.code(), "kv: " + (e.details() or ""))

    def store(self, request, context):
        if not (0 < len(request.code) <= CODE_MAX and
                0 < len(request.url) <= URL_MAX):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "code (1-%d bytes) and url (1-%d bytes) required" %
                          (CODE_MAX, URL_MAX))
        self._kv(context, "Put",
                 self.pb.kv.PutRequest(key=KV_PREFIX + request.code,
                                       value=request.url.encode()),
                 self.pb.kv.PutResponse)
        self._log("stored", request.code)
        return self.pb.storage.StoreResponse()

    def get(self, request, context):
        reply = self._kv(context, "Get",
                         self.pb.kv.GetRequest(key=KV_PREFIX + request.code),
                         self.pb.kv.GetResponse)
        self._log("looked up" if reply.found else "looked up (missing)",
                  request.code)
        return self.pb.storage.GetResponse(url=reply.value.decode(),
                                           found=reply.found)


def unary(fn, request_cls, response_cls):
    return grpc.unary_unary_rpc_method_handler(
        fn, request_deserializer=request_cls.FromString,
        response_serializer=response_cls.SerializeToString)


def handlers(pb, storage, stopping):
    """The services a plugin serves: its own, PluginControl (the host may ask
    for its health or stop it) and grpc.health.v1 (the host's liveness
    probe of silent providers)."""
    life, health = pb.lifecycle, pb.health

    def get_health(request, context):
        return life.GetHealthResponse(state=life.HEALTH_STATE_HEALTHY)

    def shutdown(request, context):
        say("shutdown asked by the host: %s" % request.reason)
        stopping.set()
        return life.ShutdownResponse(acknowledged=True)

    def check(request, context):
        # grpc.health.v1's messages have the same fields and numbers as
        # connectplugin.health.v1's (SERVING = 1), so those classes serve.
        return health.HealthCheckResponse(
            status=health.SERVING_STATUS_SERVING)

    return (
        grpc.method_handlers_generic_handler("storage.v1.Storage", {
            "Store": unary(storage.store, pb.storage.StoreRequest,
                           pb.storage.StoreResponse),
            "Get": unary(storage.get, pb.storage.GetRequest,
                         pb.storage.GetResponse),
        }),
        grpc.method_handlers_generic_handler("connectplugin.v1.PluginControl", {
            "GetHealth": unary(get_health, life.GetHealthRequest,
                               life.GetHealthResponse),
            "Shutdown": unary(shutdown, life.ShutdownRequest,
                              life.ShutdownResponse),
        }),
        grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
            "Check": unary(check, health.HealthCheckRequest,
                           health.HealthCheckResponse),
        }),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:0")
    args = parser.parse_args()
    host_url = os.environ.get("HOST_URL")
    if not host_url:
        sys.exit("storage_plugin.py: set HOST_URL to the host's address")
    pb = protos.load()

    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    port = server.add_insecure_port(args.listen)
    if port == 0:
        sys.exit("storage_plugin.py: cannot listen on %s" % args.listen)
    address = "%s:%d" % (args.listen.rsplit(":", 1)[0], port)

    def on_event(event):
        state = pb.registry.ServiceState.Name(event.state)
        say("WATCH %s %s %s" % (event.service_type,
                                state.replace("SERVICE_STATE_", ""),
                                event.endpoint.provider_id or "-"))

    link = HostLink(pb, host_url, "storage", "1.0.0",
                    provides=[("storage", "1.0.0", "/storage.v1.Storage/")],
                    base_url=address, watches=["kv", "logger"],
                    on_event=on_event,
                    log=lambda m: say("storage: " + m, sys.stderr))
    server.add_generic_rpc_handlers(handlers(pb, Storage(pb, link), stopping))
    server.start()
    say("LISTENING " + address)
    # Joining waits for a host that is not up yet; a signal ends the wait.
    joiner = threading.Thread(target=link.start, daemon=True)
    joiner.start()
    stopping.wait()
    link.close()
    joiner.join()
    server.stop(grace=2).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
