#!/usr/bin/python3
"""A Python grpcio server (a peer the project did not write) with a
client-streaming and a bidirectional method, for the C client's tests
(tests/unit/client_duplex_test.cc). Methods are served generically, so the
path's service and method names are all that matter:

  /cplugintest.v1.EchoService/Collect  (client-streaming, EchoRequest ->
      EchoResponse) reads every message and answers once: text = the texts
      joined with ","; metadata_value = the request metadata named by a
      message's metadata_key; trailing metadata x-collected = the count. A
      message with fail_code set ends the call with that code at once.
  /cplugintest.v1.EchoService/Chat  (bidirectional) answers each message
      with its text (and metadata_value as above), or fails as Collect does.
      Request metadata x-mode picks how it reads:
        echo    reads as fast as it can (default);
        gated   reads one message per "READ" line on stdin;
        stall   never reads; waits until the call ends.

Prints "LISTENING 127.0.0.1:<port>" once it serves, and exits when its
stdin closes.

usage: py_duplex_server.py
"""
import sys
import threading
from concurrent import futures

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

SERVICE = "cplugintest.v1.EchoService"


def echo_messages():
    """EchoRequest and EchoResponse (the fields used here, with the numbers
    of tests/protos/cplugintest/v1/echo.proto), built without protoc."""
    fdp = descriptor_pb2.FileDescriptorProto(
        name="py_duplex_echo.proto", package="cplugintest.v1",
        syntax="proto3")
    types = descriptor_pb2.FieldDescriptorProto
    fields = {
        "EchoRequest": [("text", 1, types.TYPE_STRING),
                        ("fail_code", 3, types.TYPE_INT32),
                        ("payload", 4, types.TYPE_BYTES),
                        ("metadata_key", 5, types.TYPE_STRING)],
        "EchoResponse": [("text", 1, types.TYPE_STRING),
                         ("metadata_value", 6, types.TYPE_STRING)],
    }
    for name, spec in fields.items():
        msg = fdp.message_type.add(name=name)
        for field, number, kind in spec:
            msg.field.add(name=field, number=number, type=kind,
                          label=types.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    factory = message_factory.MessageFactory(pool)
    return [factory.GetPrototype(
        pool.FindMessageTypeByName("cplugintest.v1." + name))
        for name in ("EchoRequest", "EchoResponse")]


EchoRequest, EchoResponse = echo_messages()
READ_PERMITS = threading.Semaphore(0)


def metadata_value(context, key):
    for k, v in context.invocation_metadata():
        if k == key:
            return v
    return ""


def fail_if_asked(context, req, index):
    if req.fail_code:
        code = next((c for c in grpc.StatusCode if c.value[0] == req.fail_code),
                    grpc.StatusCode.UNKNOWN)
        context.abort(code, "failed on message %d" % index)


def collect(request_iterator, context):
    texts, key = [], ""
    for index, raw in enumerate(request_iterator):
        req = EchoRequest.FromString(raw)
        fail_if_asked(context, req, index)
        texts.append(req.text)
        key = key or req.metadata_key
    context.set_trailing_metadata((("x-collected", str(len(texts))),))
    return EchoResponse(text=",".join(texts),
                        metadata_value=metadata_value(context, key)
                        if key else "").SerializeToString()


def gated_reads(request_iterator, context):
    """The messages, each read only after a "READ" line granted it."""
    while context.is_active():
        if not READ_PERMITS.acquire(timeout=0.1):
            continue
        try:
            yield next(request_iterator)
        except StopIteration:
            return


def chat(request_iterator, context):
    mode = metadata_value(context, "x-mode") or "echo"
    if mode == "stall":
        ended = threading.Event()
        context.add_callback(ended.set)
        ended.wait()
        return
    reads = gated_reads(request_iterator, context) if mode == "gated" \
        else request_iterator
    for index, raw in enumerate(reads):
        req = EchoRequest.FromString(raw)
        fail_if_asked(context, req, index)
        yield EchoResponse(text=req.text,
                           metadata_value=metadata_value(
                               context, req.metadata_key)
                           if req.metadata_key else "").SerializeToString()


def main():
    # No BDP probing: the flow-control window stays at its initial size, so
    # a server that does not read holds its client back within a message.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16),
                         options=[("grpc.http2.bdp_probe", 0)])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        SERVICE, {
            "Collect": grpc.stream_unary_rpc_method_handler(collect),
            "Chat": grpc.stream_stream_rpc_method_handler(chat),
        }),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("LISTENING 127.0.0.1:%d" % port, flush=True)
    for line in sys.stdin:
        if line.strip() == "READ":
            READ_PERMITS.release()
    server.stop(0).wait()


if __name__ == "__main__":
    main()
