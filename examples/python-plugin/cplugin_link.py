"""What a plugin written in Python needs from a cplugin host, with nothing but
grpcio and the generated messages: the steps of docs/wire.md, in order.

    link = HostLink(pb, host_url, "storage", "1.0.0",
                    provides=[("storage", "1.0.0", "/storage.v1.Storage/")],
                    base_url="127.0.0.1:5001", watches=["kv"],
                    on_event=print)
    link.start()                     # handshake, register, report health
    link.call("kv", "/kv.v1.KVService/Get", request, pb.kv.GetResponse)
    link.close()                     # unregister

Threads: start() and close() from one thread; call() and metadata() from
any. One heartbeat thread keeps the identity (renewal at half its lifetime,
recovery when the host no longer knows it) and one thread per watched
service type keeps its WatchService stream open.
"""
import random
import threading
import time

import grpc

COOKIE_KEY = "CONNECT_PLUGIN"
COOKIE_VALUE = "d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e"
HEARTBEAT_S = 2.0
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0
CALL_TIMEOUT_S = 5.0
# Answers to a heartbeat that mean "the host does not know us (any more)".
LOST = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED)


def retry_after_s(error):
    """The host's retry-after-ms on RESOURCE_EXHAUSTED, in seconds, or None."""
    if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
        return None
    value = dict(error.trailing_metadata() or ()).get("retry-after-ms")
    return int(value) / 1000.0 if value and value.isdigit() else None


class Backoff:
    """100 ms doubling to 5 s, each wait jittered to [0.5, 1) of it."""

    def __init__(self):
        self.next = BACKOFF_FIRST_S

    def wait(self, stop, error=None):
        """Sleeps (or less, if `stop` is set); the host's retry-after-ms
        wins over the backoff. Returns False when stopping."""
        after = retry_after_s(error) if error is not None else None
        delay = after if after is not None else self.next * random.uniform(
            0.5, 1.0)
        self.next = min(self.next * 2, BACKOFF_MAX_S)
        return not stop.wait(delay)


class HostLink:
    """A runtime identity at one cplugin host and what hangs on it."""

    def __init__(self, pb, host_url, self_id, self_version, provides,
                 base_url, watches=(), on_event=None, log=None):
        self.pb = pb
        self.self_id = self_id
        self.self_version = self_version
        self.provides = list(provides)
        self.base_url = base_url
        self.watches = list(watches)
        self.on_event = on_event or (lambda event: None)
        self.log = log or (lambda message: None)
        self.channel = grpc.insecure_channel(host_url)
        self._lock = threading.Lock()
        self._runtime_id = None
        self._token = None
        self._renew_at = None
        self._registrations = []
        self._stop = threading.Event()
        self._check = threading.Event()  # "verify the identity now"
        self._reregister = False  # "and register again" (a watch ended)
        self._threads = []
        self._streams = {}  # service type -> its open WatchService call
        hs, reg, life = pb.handshake, pb.registry, pb.lifecycle
        self._handshake = self._method(
            "/connectplugin.v1.HandshakeService/Handshake",
            hs.HandshakeRequest, hs.HandshakeResponse)
        self._register = self._method(
            "/connectplugin.v1.ServiceRegistry/RegisterService",
            reg.RegisterServiceRequest, reg.RegisterServiceResponse)
        self._unregister = self._method(
            "/connectplugin.v1.ServiceRegistry/UnregisterService",
            reg.UnregisterServiceRequest, reg.UnregisterServiceResponse)
        self._report = self._method(
            "/connectplugin.v1.PluginLifecycle/ReportHealth",
            life.ReportHealthRequest, life.ReportHealthResponse)
        self._watch = self.channel.unary_stream(
            "/connectplugin.v1.ServiceRegistry/WatchService",
            request_serializer=reg.WatchServiceRequest.SerializeToString,
            response_deserializer=reg.WatchServiceEvent.FromString)

    def _method(self, path, request_cls, response_cls):
        return self.channel.unary_unary(
            path, request_serializer=request_cls.SerializeToString,
            response_deserializer=response_cls.FromString)

    # --- identity ---------------------------------------------------------

    def metadata(self):
        """The identity metadata every call to the host carries."""
        with self._lock:
            return [("x-plugin-runtime-id", self._runtime_id),
                    ("authorization", "Bearer " + self._token)]

    @property
    def runtime_id(self):
        with self._lock:
            return self._runtime_id

    def _handshake_call(self, renew):
        request = self.pb.handshake.HandshakeRequest(
            core_protocol_version=1, app_protocol_version=1,
            magic_cookie_key=COOKIE_KEY, magic_cookie_value=COOKIE_VALUE,
            self_id=self.self_id, self_version=self.self_version)
        metadata = None
        if renew:
            request.client_metadata["renew_runtime_id"] = self.runtime_id
            metadata = self.metadata()
        reply = self._handshake(request, metadata=metadata,
                                timeout=CALL_TIMEOUT_S)
        ttl_ms = int(reply.server_metadata.get("runtime_token_ttl_ms", "0"))
        with self._lock:
            self._runtime_id = reply.runtime_id
            self._token = reply.runtime_token
            # Renew at half the lifetime: the other half is the margin for
            # a slow or retried renewal. No TTL stated: no renewal.
            self._renew_at = (time.monotonic() + ttl_ms / 2000.0
                              if ttl_ms > 0 else None)

    def _register_all(self):
        ids = []
        for service_type, version, path in self.provides:
            request = self.pb.registry.RegisterServiceRequest(
                service_type=service_type, version=version,
                endpoint_path=path, metadata={"base_url": self.base_url})
            reply = self._register(request, metadata=self.metadata(),
                                   timeout=CALL_TIMEOUT_S)
            ids.append(reply.registration_id)
        with self._lock:
            self._registrations = ids

    def _report_health(self):
        request = self.pb.lifecycle.ReportHealthRequest(
            state=self.pb.lifecycle.HEALTH_STATE_HEALTHY)
        self._report(request, metadata=self.metadata(),
                     timeout=CALL_TIMEOUT_S)

    def _join(self, renew):
        """A renewal (same ID) or a new identity; then registrations (the
        host keeps them per runtime, type and path, so repeating one is
        harmless) and a first health report."""
        self._handshake_call(renew)
        self._register_all()
        self._report_health()

    def _join_patiently(self, renew_first):
        backoff = Backoff()
        renew = renew_first
        while not self._stop.is_set():
            try:
                self._join(renew)
                self.log("joined the host as %s" % self.runtime_id)
                return True
            except grpc.RpcError as e:
                self.log("joining the host: %s %s" % (e.code().name,
                                                      e.details()))
                # A refused renewal: the host forgot this identity (it
                # restarted, or the token expired); start over with a new
                # one. An unreachable host may still know it: keep asking.
                if e.code() not in (grpc.StatusCode.UNAVAILABLE,
                                    grpc.StatusCode.DEADLINE_EXCEEDED,
                                    grpc.StatusCode.RESOURCE_EXHAUSTED):
                    renew = False
                if not backoff.wait(self._stop, e):
                    return False
        return False

    def _heartbeat(self):
        while not self._stop.is_set():
            self._check.wait(HEARTBEAT_S)
            self._check.clear()
            if self._stop.is_set():
                return
            with self._lock:
                renew_due = (self._renew_at is not None and
                             time.monotonic() >= self._renew_at)
            try:
                if renew_due:
                    self._handshake_call(renew=True)
                self._report_health()
                if self._reregister:
                    # A host that found us gone removed our registrations
                    # but may still accept the token: registering again is
                    # idempotent, and restores them.
                    self._reregister = False
                    self._register_all()
            except grpc.RpcError as e:
                if e.code() in LOST:
                    self.log("host link lost (%s); recovering" %
                             e.code().name)
                    self._join_patiently(renew_first=True)

    # --- watches -----------------------------------------------------------

    def _watch_loop(self, service_type):
        backoff = Backoff()
        while not self._stop.is_set():
            request = self.pb.registry.WatchServiceRequest(
                service_type=service_type)
            stream = self._watch(request, metadata=self.metadata())
            with self._lock:
                self._streams[service_type] = stream
            try:
                for event in stream:
                    backoff = Backoff()
                    self.on_event(event)
            except grpc.RpcError as e:
                if self._stop.is_set():
                    return
                self.log("watch %s ended: %s" % (service_type,
                                                 e.code().name))
            # A watch that ends may mean a host that restarted, or one that
            # found us gone: check the identity and the registrations at
            # once, then open the watch again.
            self._reregister = True
            self._check.set()
            if not backoff.wait(self._stop):
                return

    # --- life ----------------------------------------------------------------

    def start(self):
        """Joins the host, waiting for it with backoff if it is not up yet;
        then starts the heartbeat and the watches. False if close() came
        first."""
        if not self._join_patiently(renew_first=False):
            return False
        targets = [self._heartbeat] + [
            (lambda t=t: self._watch_loop(t)) for t in self.watches]
        for target in targets:
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return True

    def close(self):
        """Stops the threads, unregisters (best effort) and closes the
        channel."""
        self._stop.set()
        self._check.set()
        with self._lock:
            streams = list(self._streams.values())
            ids = list(self._registrations)
        for stream in streams:
            stream.cancel()
        for thread in self._threads:
            thread.join()
        for registration_id in ids:
            try:
                self._unregister(
                    self.pb.registry.UnregisterServiceRequest(
                        registration_id=registration_id),
                    metadata=self.metadata(), timeout=2)
            except grpc.RpcError:
                pass  # a host that is gone forgets us anyway
        self.channel.close()

    # --- routed calls --------------------------------------------------------

    def call(self, service_type, path, request, response_cls,
             timeout=CALL_TIMEOUT_S):
        """A unary call to a provider of `service_type`, through the host's
        router (the routing-metadata form). Raises grpc.RpcError."""
        method = self.channel.unary_unary(
            path, request_serializer=type(request).SerializeToString,
            response_deserializer=response_cls.FromString)
        metadata = self.metadata() + [("x-cplugin-service-type",
                                       service_type)]
        try:
            return method(request, metadata=metadata, timeout=timeout)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNAUTHENTICATED:
                self._check.set()
            raise

    def call_later(self, service_type, path, request, response_cls,
                   timeout=CALL_TIMEOUT_S):
        """The same call without waiting for it: returns a grpc.Future."""
        method = self.channel.unary_unary(
            path, request_serializer=type(request).SerializeToString,
            response_deserializer=response_cls.FromString)
        metadata = self.metadata() + [("x-cplugin-service-type",
                                       service_type)]
        return method.future(request, metadata=metadata, timeout=timeout)
