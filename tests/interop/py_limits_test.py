#!/usr/bin/python3
"""Request limits of a host's own services, black-box: a real host process
(urlshortener-host) and Python grpcio as the untrusted peer.

1. Six anonymous grpc.health.v1.Health/Watch streams, each carrying a
   3.8 MiB request of two-byte unknown fields (the reported attack: the host
   held ~140 MiB per stream, 17 -> 853 MiB, until the streams ended) are
   refused at once with RESOURCE_EXHAUSTED, before decoding, and the host's
   resident memory stays within 64 MiB of where it was.
2. A request under the size cap whose decoding would allocate more than its
   budget (16x the wire size + 64 KiB) is RESOURCE_EXHAUSTED too; a small
   one of the same shape is served.
3. A peer minting identities from one address stops at the per-address
   cap of live identities (256), with RESOURCE_EXHAUSTED naming it, while
   waiting out the handshake rate limit as a client should.
4. Everyone else is served as before.

usage: py_limits_test.py HOST_BINARY
"""
import sys
import threading
import time

import grpc

from hostproc import start_host, stop_host

WATCHERS = 6
ATTACK_BYTES = 3984588  # the reported request size
RSS_GROWTH_LIMIT_MIB = 64
SERVING = b"\x08\x01"  # HealthCheckResponse{status: SERVING}
IDENTITIES_PER_ADDRESS = 256  # the host's default


def handshake_request(self_id):
    """HandshakeRequest{core 1, app 1, cookie, self_id}, encoded by hand."""
    def text(field, value):
        data = value.encode()
        return bytes([(field << 3) | 2, len(data)]) + data
    return (b"\x08\x01\x10\x01" + text(3, "CONNECT_PLUGIN") +
            text(4, "d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e") + text(10, self_id))


def mint_until_refused(channel, failures):
    """Handshakes with self_id until the host refuses for a reason other
    than its rate limit; returns how many identities were issued."""
    handshake = channel.unary_unary(
        "/connectplugin.v1.HandshakeService/Handshake")
    issued = 0
    while issued <= IDENTITIES_PER_ADDRESS:
        try:
            handshake(handshake_request("minter"), timeout=30)
            issued += 1
        except grpc.RpcError as e:
            after = dict(e.trailing_metadata() or ()).get("retry-after-ms")
            if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and after:
                time.sleep(min(int(after), 2000) / 1000.0)
                continue
            print("identities: %d issued, then %s (%s)" %
                  (issued, e.code().name, e.details()))
            if (e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or
                    "from this address" not in (e.details() or "")):
                failures.append("minting: %s %s" % (e.code(), e.details()))
            return issued
    failures.append("minted %d identities from one address" % issued)
    return issued


def unknown_fields(n):
    """n two-byte unknown fields: field 8, varint 1."""
    return b"\x40\x01" * n


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    raise SystemExit("no VmRSS for %d" % pid)


def main():
    binary = sys.argv[1]
    failures = []
    proc, address = start_host(binary, "urlshortener-host")
    try:
        channel = grpc.insecure_channel(address)
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        watch = channel.unary_stream("/grpc.health.v1.Health/Watch")
        if check(b"", timeout=30) != SERVING:
            failures.append("host not serving before the test")
        before = rss_mib(proc.pid)

        # 1. The oversized watchers, all at once.
        outcomes = []
        lock = threading.Lock()

        def watcher():
            try:
                for _ in watch(unknown_fields(ATTACK_BYTES // 2), timeout=60):
                    pass
                outcome = ("OK", "")
            except grpc.RpcError as e:
                outcome = (e.code().name, e.details() or "")
            with lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=watcher) for _ in range(WATCHERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        after = rss_mib(proc.pid)
        print("watchers: %r" % sorted(set(outcomes)))
        print("host RSS: %d MiB before, %d MiB after" % (before, after))
        for code, details in outcomes:
            if code != "RESOURCE_EXHAUSTED" or "limit" not in details:
                failures.append("watcher: %s %s" % (code, details))
        if len(outcomes) != WATCHERS:
            failures.append("%d of %d watchers ended" %
                            (len(outcomes), WATCHERS))
        if after - before > RSS_GROWTH_LIMIT_MIB:
            failures.append("host RSS grew %d MiB" % (after - before))

        # 2. The decode budget, under the size cap.
        try:
            check(unknown_fields(30000), timeout=30)
            failures.append("60 KB of unknown fields was decoded")
        except grpc.RpcError as e:
            print("budget: %s (%s)" % (e.code().name, e.details()))
            if (e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or
                    "to decode" not in (e.details() or "")):
                failures.append("budget: %s %s" % (e.code(), e.details()))
        if check(unknown_fields(1000), timeout=30) != SERVING:
            failures.append("a small request with unknown fields was refused")

        # 3. Identities per address.
        issued = mint_until_refused(channel, failures)
        if issued != IDENTITIES_PER_ADDRESS:
            failures.append("%d identities before the cap" % issued)

        # 4. Service as before.
        if check(b"", timeout=30) != SERVING:
            failures.append("host not serving after the test")
        channel.close()
    finally:
        stop_host(proc, "urlshortener-host", failures)
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    print("python limits test: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
