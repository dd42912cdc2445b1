#!/usr/bin/python3
"""The managed mode, black-box, with clients this project did not write:
urlshortener-host --manifest launches the URL shortener's logger and
storage plugins (the given manifest without api); Python grpcio adds api
with Admin/AddPlugin (its entry from the manifest; a second add is
ALREADY_EXISTS, an entry named otherwise INVALID_ARGUMENT), shortens a URL through the api plugin's socket, watches
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

import json

import grpc

from hostproc import generate_host_protos
from waiting import LineReader, WaitTimeout, next_item, wait_exit

COOKIE = ("CONNECT_PLUGIN", "d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e")
ADMIN_KEY = "python-managed-admin-key-0123456789"


def split_manifest(manifest, out):
    """Writes `manifest` without its api entry to `out` (paths made
    absolute) and returns that entry as JSON text."""
    with open(manifest) as f:
        m = json.load(f)
    base = os.path.dirname(os.path.abspath(manifest))
    for p in m["plugins"]:
        p["path"] = os.path.normpath(os.path.join(base, p["path"]))
    api = [p for p in m["plugins"] if p["name"] == "api"][0]
    m["plugins"] = [p for p in m["plugins"] if p["name"] != "api"]
    path = os.path.join(out, "manifest.json")
    with open(path, "w") as f:
        json.dump(m, f)
    return path, json.dumps(api)


def add_api(address, entry, admin_pb2, failures):
    """Adds api through the admin service; returns (endpoint, pid)."""
    ch = grpc.insecure_channel(address)
    add = ch.unary_unary(
        "/cplugin.admin.v1.Admin/AddPlugin",
        request_serializer=admin_pb2.AddPluginRequest.SerializeToString,
        response_deserializer=admin_pb2.AddPluginResponse.FromString)
    key = [("x-api-key", ADMIN_KEY)]
    reply = add(admin_pb2.AddPluginRequest(name="api", entry=entry),
                metadata=key, timeout=120)
    st = reply.plugin
    print("AddPlugin api ->", admin_pb2.PluginState.Name(st.state), st.pid,
          st.endpoint)
    if st.state != admin_pb2.PLUGIN_STATE_RUNNING or st.pid <= 0:
        failures.append("AddPlugin: api not running: %s" % st)
    for name, want in (("api", grpc.StatusCode.ALREADY_EXISTS),
                       ("api2", grpc.StatusCode.INVALID_ARGUMENT)):
        try:
            add(admin_pb2.AddPluginRequest(name=name, entry=entry),
                metadata=key, timeout=120)
            failures.append("AddPlugin %s: accepted" % name)
        except grpc.RpcError as e:
            print("AddPlugin %s ->" % name, e.code(), e.details())
            if e.code() != want:
                failures.append("AddPlugin %s: %s, want %s" %
                                (name, e.code(), want))
    ch.close()
    return st.endpoint, st.pid


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
    subprocess.run(["protoc", "-I" + proto_root, "--python_out=" + out,
                    "cplugin/admin/v1/admin.proto"], check=True)
    from plugin.v1 import handshake_pb2, registry_pb2
    from cplugin.admin.v1 import admin_pb2

    failures = []
    manifest, api_entry = split_manifest(manifest, out)
    proc = subprocess.Popen([host_bin, "--manifest", manifest,
                             "--admin-key", ADMIN_KEY],
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
        if sorted(plugins) != ["logger", "storage"]:
            raise SystemExit("expected logger and storage, got %r" % plugins)
        endpoint, pid = add_api(address, api_entry, admin_pb2, failures)
        plugins["api"] = (endpoint, pid)

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
