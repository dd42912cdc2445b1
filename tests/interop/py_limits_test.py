#!/usr/bin/python3
"""Request limits of a host's own services, black-box: a real host process
(urlshortener-host) and Python grpcio as the untrusted peer.

1. 128 anonymous grpc.health.v1.Health/Watch streams at once (the health
   watch cap), each carrying a 4 MiB request of two-byte unknown fields
   (the reported attack: 6 such streams of 3.8 MiB took the host from 17 to
   853 MiB until they ended) are refused with RESOURCE_EXHAUSTED, and the
   host's resident memory, sampled throughout, never grows by 16 MiB.
2. A request under the size cap whose decoding would allocate more than its
   budget (16x the wire size + 64 KiB) is RESOURCE_EXHAUSTED too; a small
   one of the same shape is served.
3. Anonymous requests are read one at a time per address: a peer that
   sends headers and then trickles nothing holds its address's read slot
   only until someone else waits, then ends RESOURCE_EXHAUSTED, and the
   one waiting is served. A caller with a valid token is read at once: its
   own stalled request is never cut short.
4. A peer minting identities from one address stops at the per-address
   cap of live identities (256), with RESOURCE_EXHAUSTED naming it, while
   waiting out the handshake rate limit as a client should.
5. Everyone else is served as before.

usage: py_limits_test.py HOST_BINARY
"""
import sys
import threading
import time

import grpc

from hostproc import fields, handshake_request, start_host, stop_host

WATCHERS = 128
ATTACK_BYTES = 4 * 1024 * 1024
RSS_GROWTH_LIMIT_MIB = 16
SERVING = b"\x08\x01"  # HealthCheckResponse{status: SERVING}
IDENTITIES_PER_ADDRESS = 256  # the host's default


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


def stalled_call(channel, path, metadata=None):
    """A unary call whose request never arrives: the call's headers go out,
    then the client sends nothing until `release` is set."""
    release = threading.Event()

    def nothing():
        release.wait()
        return
        yield  # a generator that yields no message

    call = channel.stream_unary(path).future(
        nothing(), timeout=120, metadata=metadata)
    return call, release


def check_stalled_readers(channel, check, failures):
    """Section 3: the read gate's stall rule, anonymous and not."""
    handshake = channel.unary_unary(
        "/connectplugin.v1.HandshakeService/Handshake")
    reply = fields(handshake(handshake_request("stall-test"), timeout=30))
    token = [("x-plugin-runtime-id", reply[10].decode()),
             ("authorization", "Bearer " + reply[11].decode())]

    # A caller with a token stalls (on a method that checks the token; the
    # health service is open and does not look): it holds no read slot, so
    # anonymous checks from its address are served and it is not cut short.
    trusted, release_trusted = stalled_call(
        channel, "/connectplugin.v1.ServiceRegistry/DiscoverService", token)
    for _ in range(3):
        if check(b"", timeout=60) != SERVING:
            failures.append("anonymous check beside a stalled trusted one")
    if trusted.done():
        failures.append("the trusted stalled call ended: %r" %
                        (trusted.exception(),))
    trusted.cancel()
    release_trusted.set()

    # An anonymous caller stalls: once it holds the slot, the next check
    # waits until the stall rule ends it. Checks go on until it has ended.
    anonymous, release_anonymous = stalled_call(
        channel, "/grpc.health.v1.Health/Check")
    served = 0
    while not anonymous.done():
        if check(b"", timeout=60) != SERVING:
            failures.append("anonymous check beside a stalled one")
            break
        served += 1
    release_anonymous.set()
    error = anonymous.exception()
    print("stalled anonymous read: %s (%s) after %d checks" %
          (error.code().name if error else "OK",
           error.details() if error else "", served))
    if (error is None or error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED
            or "not received in time" not in (error.details() or "")):
        failures.append("stalled anonymous read ended %r" % (error,))


def unknown_fields(n):
    """n two-byte unknown fields: field 8, varint 1."""
    return b"\x40\x01" * n


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    raise SystemExit("no VmRSS for %d" % pid)


def sanitized(pid):
    """True for a host built with AddressSanitizer, whose quarantine keeps
    freed memory resident: its RSS says nothing about the host's."""
    with open("/proc/%d/maps" % pid) as f:
        return any("libasan" in line for line in f)


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

        # 1. The oversized watchers, all at once, while a sampler keeps the
        # highest RSS seen.
        outcomes = []
        lock = threading.Lock()
        attack = unknown_fields(ATTACK_BYTES // 2)
        peak = [before]
        sampling = threading.Event()

        def sampler():
            while not sampling.is_set():
                peak[0] = max(peak[0], rss_mib(proc.pid))
                sampling.wait(0.01)

        def watcher():
            try:
                for _ in watch(attack, timeout=120):
                    pass
                outcome = ("OK", "")
            except grpc.RpcError as e:
                outcome = (e.code().name, e.details() or "")
            with lock:
                outcomes.append(outcome)

        sampling_thread = threading.Thread(target=sampler)
        sampling_thread.start()
        threads = [threading.Thread(target=watcher) for _ in range(WATCHERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
        sampling.set()
        sampling_thread.join()
        after = rss_mib(proc.pid)
        print("watchers: %r" % sorted(set(outcomes)))
        print("host RSS: %d MiB before, %d MiB at most, %d MiB after" %
              (before, peak[0], after))
        for code, details in outcomes:
            if code != "RESOURCE_EXHAUSTED" or "limit" not in details:
                failures.append("watcher: %s %s" % (code, details))
        if len(outcomes) != WATCHERS:
            failures.append("%d of %d watchers ended" %
                            (len(outcomes), WATCHERS))
        if sanitized(proc.pid):
            print("host RSS not checked: the host is built with ASan")
        elif max(peak[0], after) - before >= RSS_GROWTH_LIMIT_MIB:
            failures.append("host RSS grew %d MiB" %
                            (max(peak[0], after) - before))

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

        # 3. Stalled readers.
        check_stalled_readers(channel, check, failures)

        # 4. Identities per address (one was used by section 3).
        issued = mint_until_refused(channel, failures)
        if issued != IDENTITIES_PER_ADDRESS - 1:
            failures.append("%d identities before the cap" % issued)

        # 5. Service as before.
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
