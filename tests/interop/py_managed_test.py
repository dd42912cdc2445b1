#!/usr/bin/python3
"""The managed mode, black-box, with clients this project did not write:
urlshortener-host --manifest launches the URL shortener's three plugins;
Python grpcio shortens a URL through the api plugin's socket, watches
"storage" with an identity of its own, kills the storage plugin with
SIGKILL and sees it go UNAVAILABLE and come back AVAILABLE under a new
provider, uses it again, then kills the host with SIGKILL: no plugin
process may survive it (checked by PID, 2 s at most).

usage: py_managed_test.py HOST_BINARY MANIFEST PROTO_ROOT
"""
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time

import grpc

from hostproc import generate_host_protos
from waiting import LineReader, WaitTimeout, next_item, wait_exit

COOKIE = ("CONNECT_PLUGIN", "d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e")


def field1(data):
    """String field 1 of a message (the only one ShortenResponse has)."""
    if not data or data[0] != 0x0A:
        return ""
    n, i, shift = 0, 1, 0
    while True:
        b = data[i]
        n |= (b & 0x7F) << shift
        i += 1
        shift += 7
        if b < 0x80:
            return data[i:i + n].decode()


def string1(text):
    raw = text.encode()
    out = bytearray([0x0A])
    n = len(raw)
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out) + raw


def shorten(api_target, url):
    with grpc.insecure_channel(api_target) as ch:
        call = ch.unary_unary("/api.v1.API/Shorten")
        return field1(call(string1(url), timeout=30))


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def children(pid):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(name))
    return out


def main():
    host_bin, manifest, proto_root = sys.argv[1:4]
    out = tempfile.mkdtemp()
    generate_host_protos(proto_root, out)
    from plugin.v1 import handshake_pb2, registry_pb2

    failures = []
    proc = subprocess.Popen([host_bin, "--manifest", manifest],
                            stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    reader = LineReader(proc.stdout, "urlshortener-host")
    plugins = {}
    address = None
    try:
        while address is None:
            line = reader.next_line("PLUGIN and LISTENING lines")
            parts = line.split()
            if parts[0] == "PLUGIN":
                plugins[parts[1]] = (parts[2], int(parts[3]))
            elif parts[0] == "LISTENING":
                address = parts[1]
        print("launched:", plugins)
        if sorted(plugins) != ["api", "logger", "storage"]:
            raise SystemExit("expected three plugins, got %r" % plugins)

        api = plugins["api"][0]
        code = shorten(api, "https://example.com/py-managed")
        print("shorten ->", code)
        if not code:
            failures.append("no code from Shorten")

        ch = grpc.insecure_channel(address)
        hs = ch.unary_unary(
            "/connectplugin.v1.HandshakeService/Handshake",
            request_serializer=handshake_pb2.HandshakeRequest.SerializeToString,
            response_deserializer=handshake_pb2.HandshakeResponse.FromString)
        reply = hs(handshake_pb2.HandshakeRequest(
            core_protocol_version=1, app_protocol_version=1,
            magic_cookie_key=COOKIE[0], magic_cookie_value=COOKIE[1],
            self_id="pywatcher", self_version="1.0.0"), timeout=30)
        who = [("x-plugin-runtime-id", reply.runtime_id),
               ("authorization", "Bearer " + reply.runtime_token)]
        watch = ch.unary_stream(
            "/connectplugin.v1.ServiceRegistry/WatchService",
            request_serializer=registry_pb2.WatchServiceRequest.SerializeToString,
            response_deserializer=registry_pb2.WatchServiceEvent.FromString)
        stream = watch(registry_pb2.WatchServiceRequest(service_type="storage"),
                       metadata=who)
        events = queue.Queue()

        def pump():
            try:
                for ev in stream:
                    events.put(ev)
            except grpc.RpcError:
                pass

        threading.Thread(target=pump, daemon=True).start()
        AVAILABLE = registry_pb2.SERVICE_STATE_AVAILABLE
        first = next_item(events, "the first storage event")
        if first.state != AVAILABLE:
            failures.append("first event not AVAILABLE: %s" % first)
        old_provider = first.endpoint.provider_id

        os.kill(plugins["storage"][1], signal.SIGKILL)
        states = []
        provider = None
        while True:
            ev = next_item(events, "storage back after SIGKILL",
                           lambda: str(states))
            states.append(registry_pb2.ServiceState.Name(ev.state))
            if ev.state == AVAILABLE and ev.endpoint.provider_id != old_provider:
                provider = ev.endpoint.provider_id
                break
        print("events after kill -9:", states, "new provider", provider)
        if "SERVICE_STATE_UNAVAILABLE" not in states:
            failures.append("no UNAVAILABLE before AVAILABLE: %s" % states)

        code = shorten(api, "https://example.com/py-managed/after")
        print("shorten after restart ->", code)
        if not code:
            failures.append("no code after the restart")
        stream.cancel()
        ch.close()

        running = children(proc.pid)
        print("plugin processes before killing the host:", running)
        if len(running) != 3:
            failures.append("expected 3 plugin processes, got %r" % running)
        proc.kill()
        wait_exit(proc, "urlshortener-host (SIGKILL)")
        deadline = time.monotonic() + 2.0
        while any(alive(p) for p in running) and time.monotonic() < deadline:
            time.sleep(0.01)
        left = [p for p in running if alive(p)]
        if left:
            failures.append("plugins alive 2 s after the host died: %r" % left)
    except WaitTimeout as e:
        failures.append(str(e))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if failures:
        for f in failures:
            print("FAILED:", f)
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
