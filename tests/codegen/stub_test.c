/* Behaviour of the generated code, linked against a fake runtime.
 *
 * The fake defines only the runtime functions that generated code calls,
 * so the test checks what protoc-gen-cplugin writes (registration, the typed
 * invokers, the client stubs) without a server or a network: a handler
 * registered through *__register is called back through the method
 * descriptor's invoker with the right types, and the client stubs hand the
 * typed messages through. Uses tests/codegen/protos/multi/v1/multi.proto.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cplugin/errors.h>

#include "multi/v1/multi.cplugin.h"

/* --- the fake runtime ----------------------------------------------------- */

struct cp_server {
  const cp_method_desc *methods[8];
  cp_generic_fn handlers[8];
  void *users[8];
  int count;
  int batches; /* cp_server_add_methods calls that succeeded */
  int fail_at; /* registration index that fails with CP_EEXIST, or -1 */
};

struct cp_client {
  const cp_method_desc *last_method;
  const ProtobufCMessage *last_request;
  const cp_call_options *last_opts;
  const ProtobufCMessageDescriptor *next_type; /* what stream_next returns */
  /* The pending asynchronous call or stream, delivered by the test. */
  cp_unary_invoke_fn invoke;
  cp_generic_fn done;
  void *user;
  cp_client_stream **last_out;
};

struct cp_client_stream {
  struct cp_client *client;
};

struct cp_call {
  int unused;
};

struct cp_stream {
  const cp_method_desc *method; /* what cp_stream_read_typed was given */
  cp_generic_fn read_fn;        /* and its callback */
  void *read_user;
  const ProtobufCMessage *written; /* what cp_stream_send / _reply got */
};

/* All or none, as the real one: a batch reaching index fail_at fails. */
int cp_server_add_methods(cp_server *server, const cp_method_entry *entries,
                          size_t count) {
  if (server->fail_at >= server->count &&
      server->fail_at < server->count + (int)count) {
    return CP_EEXIST;
  }
  server->batches++;
  for (size_t i = 0; i < count; i++) {
    server->methods[server->count] = entries[i].method;
    server->handlers[server->count] = entries[i].handler;
    server->users[server->count] = entries[i].user;
    server->count++;
  }
  return 0;
}

struct cp_unary_reply {
  const ProtobufCMessage *sent;
};

int cp_unary_reply_send(cp_unary_reply *reply, const ProtobufCMessage *resp) {
  reply->sent = resp;
  return 0;
}

/* An empty message of type `type`, allocated as the real runtime would. */
static ProtobufCMessage *new_message(const ProtobufCMessageDescriptor *type) {
  static const uint8_t empty[1] = {0};
  return protobuf_c_message_unpack(type, NULL, 0, empty);
}

int cp_client_unary(cp_client *client, const cp_method_desc *method,
                    const ProtobufCMessage *req, ProtobufCMessage **resp,
                    const cp_call_options *opts, cp_status *status) {
  (void)opts;
  client->last_method = method;
  client->last_request = req;
  if (resp == NULL) {
    return CP_EINVAL;
  }
  *resp = new_message(method->response_type);
  status->code = CP_STATUS_OK;
  return 0;
}

int cp_client_unary_async_typed(cp_client *client, const cp_method_desc *method,
                                const ProtobufCMessage *req,
                                const cp_call_options *opts,
                                cp_unary_invoke_fn invoke, cp_generic_fn done,
                                void *user) {
  if (invoke == NULL || done == NULL) {
    return CP_EINVAL;
  }
  client->last_method = method;
  client->last_request = req;
  client->last_opts = opts;
  client->invoke = invoke;
  client->done = done;
  client->user = user;
  return 0;
}

/* Both asynchronous stream starts: record, hand out a stream. */
static int start_async(cp_client *client, const cp_method_desc *method,
                       const ProtobufCMessage *req, const cp_call_options *opts,
                       cp_unary_invoke_fn invoke, cp_generic_fn fn, void *user,
                       cp_client_stream **out) {
  static struct cp_client_stream stream;
  if (invoke == NULL || fn == NULL || out == NULL) {
    return CP_EINVAL;
  }
  client->last_method = method;
  client->last_request = req;
  client->last_opts = opts;
  client->invoke = invoke;
  client->done = fn;
  client->user = user;
  client->last_out = out;
  stream.client = client;
  *out = &stream;
  return 0;
}

int cp_client_stream_start_async_typed(cp_client *client,
                                       const cp_method_desc *method,
                                       const ProtobufCMessage *req,
                                       const cp_call_options *opts,
                                       cp_unary_invoke_fn invoke,
                                       cp_generic_fn fn, void *user,
                                       cp_client_stream **out) {
  return start_async(client, method, req, opts, invoke, fn, user, out);
}

int cp_client_stream_open_async_typed(cp_client *client,
                                      const cp_method_desc *method,
                                      const cp_call_options *opts,
                                      cp_unary_invoke_fn invoke,
                                      cp_generic_fn fn, void *user,
                                      cp_client_stream **out) {
  return start_async(client, method, NULL, opts, invoke, fn, user, out);
}

int cp_client_stream_start(cp_client *client, const cp_method_desc *method,
                           const ProtobufCMessage *req,
                           const cp_call_options *opts, cp_client_stream **out,
                           cp_status *status) {
  (void)opts;
  (void)status;
  static struct cp_client_stream stream;
  client->last_method = method;
  client->last_request = req;
  stream.client = client;
  *out = &stream;
  return 0;
}

int cp_client_stream_next(cp_client_stream *stream, ProtobufCMessage **msg,
                          cp_status *status) {
  (void)status;
  *msg = new_message(stream->client->next_type);
  return 0;
}

int cp_stream_read_typed(cp_stream *stream, const cp_method_desc *method,
                         cp_generic_fn fn, void *user) {
  stream->method = method;
  stream->read_fn = fn;
  stream->read_user = user;
  return 0;
}

int cp_stream_send(cp_stream *stream, const ProtobufCMessage *msg) {
  stream->written = msg;
  return 0;
}

int cp_stream_reply(cp_stream *stream, const ProtobufCMessage *resp) {
  stream->written = resp;
  return 0;
}

int cp_client_stream_open(cp_client *client, const cp_method_desc *method,
                          const cp_call_options *opts, cp_client_stream **out,
                          cp_status *status) {
  (void)opts;
  (void)status;
  static struct cp_client_stream stream;
  client->last_method = method;
  stream.client = client;
  *out = &stream;
  return 0;
}

int cp_client_stream_send(cp_client_stream *stream,
                          const ProtobufCMessage *msg) {
  stream->client->last_request = msg;
  return 0;
}

int cp_client_stream_finish(cp_client_stream *stream, ProtobufCMessage **resp,
                            cp_status *status) {
  status->code = CP_STATUS_OK;
  *resp = new_message(stream->client->next_type);
  return 0;
}

/* --- the test ------------------------------------------------------------- */

static int failures;

#define EXPECT(cond)                                                      \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                         \
    }                                                                     \
  } while (0)

static const Multi__V1__LogRequest *seen_log_request;
static void *seen_user;

static cp_status_code on_log(cp_call *call, const Multi__V1__LogRequest *req,
                             Multi__V1__LogResponse *resp, void *user) {
  (void)call;
  (void)resp;
  seen_log_request = req;
  seen_user = user;
  return CP_STATUS_NOT_FOUND;
}

static cp_stream *seen_stream;

static cp_status_code on_watch(cp_call *call,
                               const Multi__V1__Probe__Request *req,
                               cp_stream *stream, void *user) {
  (void)call;
  (void)req;
  (void)user;
  seen_stream = stream;
  return CP_STATUS_ABORTED;
}

static void test_descriptors(void) {
  const cp_service_desc *svc = &cp_multi__v1__health_service__service;
  EXPECT(strcmp(svc->full_name, "multi.v1.HealthService") == 0);
  EXPECT(strcmp(svc->path, "/multi.v1.HealthService/") == 0);
  EXPECT(svc->method_count == 2);
  EXPECT(svc->methods[1] == &cp_multi__v1__health_service__watch__method);
  const cp_method_desc *watch = &cp_multi__v1__health_service__watch__method;
  EXPECT(strcmp(watch->path, "/multi.v1.HealthService/Watch") == 0);
  EXPECT(watch->kind == CP_METHOD_SERVER_STREAMING);
  EXPECT(watch->unary_invoke == NULL && watch->stream_invoke != NULL);
  EXPECT(watch->request_type == &multi__v1__probe__request__descriptor);
  EXPECT(strcmp(cp_multi__v1__health_service__plugin.name, "health") == 0);
  EXPECT(strcmp(cp_multi__v1__logger__plugin.name, "logger") == 0);
  EXPECT(strcmp(cp_multi__v1__logger__plugin.service_path,
                "/multi.v1.Logger/") == 0);
  EXPECT(cp_multi__v1__logger__plugin.service ==
         &cp_multi__v1__logger__service);
}

static void test_register_and_invoke(void) {
  cp_server server = {.fail_at = -1};
  int user = 7;
  cp_multi__v1__logger__handlers logger = {.on_log = on_log};
  EXPECT(cp_multi__v1__logger__register(&server, &logger, &user) == 0);
  EXPECT(server.count == 1);
  EXPECT(server.methods[0] == &cp_multi__v1__logger__log__method);
  EXPECT(server.users[0] == &user);

  Multi__V1__LogRequest req = MULTI__V1__LOG_REQUEST__INIT;
  Multi__V1__LogResponse resp = MULTI__V1__LOG_RESPONSE__INIT;
  cp_call call = {0};
  cp_status_code code = server.methods[0]->unary_invoke(
      server.handlers[0], &call, &req.base, &resp.base, server.users[0]);
  EXPECT(code == CP_STATUS_NOT_FOUND);
  EXPECT(seen_log_request == &req);
  EXPECT(seen_user == &user);

  /* Only the non-NULL handler of HealthService is registered. */
  cp_multi__v1__health_service__handlers health = {.on_watch = on_watch};
  EXPECT(cp_multi__v1__health_service__register(&server, &health, NULL) == 0);
  EXPECT(server.count == 2);
  EXPECT(server.methods[1] == &cp_multi__v1__health_service__watch__method);
  cp_stream stream = {0};
  Multi__V1__Probe__Request probe = MULTI__V1__PROBE__REQUEST__INIT;
  code = server.methods[1]->stream_invoke(server.handlers[1], &call,
                                          &probe.base, &stream, NULL);
  EXPECT(code == CP_STATUS_ABORTED);
  EXPECT(seen_stream == &stream);
}

static void test_typed_reply(void) {
  /* The typed answer passes the very message on, as its base. */
  Multi__V1__LogResponse resp = MULTI__V1__LOG_RESPONSE__INIT;
  cp_unary_reply reply = {0};
  EXPECT(cp_multi__v1__logger__log__reply(&reply, &resp) == 0);
  EXPECT(reply.sent == &resp.base);
}

static cp_status_code on_any(cp_call *call, const Multi__V1__LogRequest *req,
                             Multi__V1__LogResponse *resp, void *user) {
  (void)call;
  (void)req;
  (void)resp;
  (void)user;
  return CP_STATUS_OK;
}

static cp_status_code on_watch_any(cp_call *call, const Shared__V1__Query *req,
                                   cp_stream *stream, void *user) {
  (void)call;
  (void)req;
  (void)stream;
  (void)user;
  return CP_STATUS_OK;
}

static void test_register_errors(void) {
  cp_server server = {.fail_at = 1};
  cp_multi__v1__service_registry__handlers handlers = {.on_register_service =
                                                           on_any};
  EXPECT(cp_multi__v1__service_registry__register(NULL, &handlers, NULL) ==
         CP_EINVAL);
  EXPECT(cp_multi__v1__service_registry__register(&server, NULL, NULL) ==
         CP_EINVAL);
  cp_multi__v1__logger__handlers logger = {.on_log = on_any};
  EXPECT(cp_multi__v1__logger__register(&server, &logger, NULL) == 0);
  /* The second registration fails: its error is returned. */
  EXPECT(cp_multi__v1__logger__register(&server, &logger, NULL) == CP_EEXIST);
  EXPECT(server.count == 1);

  /* A whole service is one batch: the non-NULL handlers, in order, in one
   * call, so a failure registers none of them. */
  cp_server whole = {.fail_at = -1};
  cp_multi__v1__service_registry__handlers all = {
      .on_register_service = on_any, .on_watch_service = on_watch_any};
  EXPECT(cp_multi__v1__service_registry__register(&whole, &all, NULL) == 0);
  EXPECT(whole.batches == 1 && whole.count == 2);
  EXPECT(whole.methods[0] ==
         &cp_multi__v1__service_registry__register_service__method);
  EXPECT(whole.methods[1] ==
         &cp_multi__v1__service_registry__watch_service__method);
  cp_server failing = {.fail_at = 1};
  EXPECT(cp_multi__v1__service_registry__register(&failing, &all, NULL) ==
         CP_EEXIST);
  EXPECT(failing.batches == 0 && failing.count == 0);
}

static void test_client_stubs(void) {
  cp_client client = {0};
  cp_status status;
  Multi__V1__LogRequest req = MULTI__V1__LOG_REQUEST__INIT;
  Multi__V1__LogResponse *resp = NULL;
  EXPECT(cp_multi__v1__logger__log__call(&client, &req, &resp, NULL, &status) ==
         0);
  EXPECT(client.last_method == &cp_multi__v1__logger__log__method);
  EXPECT(client.last_request == &req.base);
  EXPECT(resp != NULL &&
         resp->base.descriptor == &multi__v1__log_response__descriptor);
  protobuf_c_message_free_unpacked((ProtobufCMessage *)resp, NULL);
  EXPECT(cp_multi__v1__logger__log__call(&client, &req, NULL, NULL, &status) ==
         CP_EINVAL);

  Shared__V1__Query query = SHARED__V1__QUERY__INIT;
  cp_client_stream *stream = NULL;
  EXPECT(cp_multi__v1__service_registry__watch_service__start(
             &client, &query, NULL, &stream, &status) == 0);
  EXPECT(client.last_method ==
         &cp_multi__v1__service_registry__watch_service__method);
  Shared__V1__Result *result = NULL;
  client.next_type = &shared__v1__result__descriptor;
  EXPECT(cp_multi__v1__service_registry__watch_service__next(stream, &result,
                                                             &status) == 0);
  EXPECT(result != NULL);
  protobuf_c_message_free_unpacked((ProtobufCMessage *)result, NULL);
  /* A message of another type is never handed out. */
  client.next_type = &multi__v1__log_request__descriptor;
  EXPECT(cp_multi__v1__service_registry__watch_service__next(
             stream, &result, &status) == CP_EINVAL);
  EXPECT(result == NULL);
}

/* What the typed callback of Logger.Log received. */
static struct {
  int calls;
  cp_status_code code;
  const Multi__V1__LogResponse *resp;
  void *user;
} seen_async;

static void on_log_done(const cp_status *status,
                        const Multi__V1__LogResponse *resp, void *user) {
  seen_async.calls++;
  seen_async.code = status->code;
  seen_async.resp = resp;
  seen_async.user = user;
}

static void test_async_stub(void) {
  cp_client client = {0};
  Multi__V1__LogRequest req = MULTI__V1__LOG_REQUEST__INIT;
  cp_call_options opts;
  memset(&opts, 0, sizeof opts);
  int user = 3;
  EXPECT(cp_multi__v1__logger__log__call_async(&client, &req, &opts,
                                               on_log_done, &user) == 0);
  EXPECT(client.last_method == &cp_multi__v1__logger__log__method);
  EXPECT(client.last_request == &req.base);
  EXPECT(client.last_opts == &opts);
  EXPECT(client.user == &user);
  EXPECT(seen_async.calls == 0); /* only when the runtime delivers */
  if (client.invoke == NULL) {
    failures++;
    return;
  }
  /* The runtime delivers through the stub's invoker: the typed callback
   * gets the response as its own type, and the status and user. */
  ProtobufCMessage *resp = new_message(&multi__v1__log_response__descriptor);
  cp_status ok = {.code = CP_STATUS_OK};
  client.invoke(client.done, &ok, resp, client.user);
  EXPECT(seen_async.calls == 1);
  EXPECT(seen_async.code == CP_STATUS_OK);
  EXPECT(seen_async.resp == (const Multi__V1__LogResponse *)resp);
  EXPECT(seen_async.resp->base.descriptor ==
         &multi__v1__log_response__descriptor);
  EXPECT(seen_async.user == &user);
  protobuf_c_message_free_unpacked(resp, NULL); /* the runtime's to free */
  cp_status failed = {.code = CP_STATUS_UNAVAILABLE};
  client.invoke(client.done, &failed, NULL, client.user);
  EXPECT(seen_async.calls == 2);
  EXPECT(seen_async.code == CP_STATUS_UNAVAILABLE);
  EXPECT(seen_async.resp == NULL);
  /* A NULL callback is refused. */
  EXPECT(cp_multi__v1__logger__log__call_async(&client, &req, NULL, NULL,
                                               NULL) == CP_EINVAL);
}

static const Multi__V1__LogRequest *seen_upload;
static void *seen_upload_user;

static void on_upload_message(cp_stream *stream,
                              const Multi__V1__LogRequest *msg, void *user) {
  (void)stream;
  seen_upload = msg;
  seen_upload_user = user;
}

static void test_duplex_stubs(void) {
  /* Descriptors of every kind. */
  EXPECT(cp_multi__v1__uploader__upload__method.kind ==
         CP_METHOD_CLIENT_STREAMING);
  EXPECT(cp_multi__v1__uploader__talk__method.kind == CP_METHOD_BIDI_STREAMING);
  EXPECT(cp_multi__v1__uploader__upload__method.duplex_invoke != NULL &&
         cp_multi__v1__uploader__upload__method.message_invoke != NULL &&
         cp_multi__v1__uploader__upload__method.unary_invoke == NULL &&
         cp_multi__v1__uploader__upload__method.stream_invoke == NULL);

  /* __read hands the typed callback to the runtime, which calls it back
   * through the method's message invoker. */
  cp_stream stream = {0};
  int user = 3;
  EXPECT(cp_multi__v1__uploader__upload__read(&stream, on_upload_message,
                                              &user) == 0);
  EXPECT(stream.method == &cp_multi__v1__uploader__upload__method);
  Multi__V1__LogRequest line = MULTI__V1__LOG_REQUEST__INIT;
  stream.method->message_invoke(stream.read_fn, &stream, &line.base,
                                stream.read_user);
  EXPECT(seen_upload == &line && seen_upload_user == &user);

  /* __reply, __write: the very message, as its base. */
  Multi__V1__LogResponse done = MULTI__V1__LOG_RESPONSE__INIT;
  EXPECT(cp_multi__v1__uploader__upload__reply(&stream, &done) == 0);
  EXPECT(stream.written == &done.base);
  Multi__V1__Probe__Response probe = MULTI__V1__PROBE__RESPONSE__INIT;
  EXPECT(cp_multi__v1__uploader__talk__write(&stream, &probe) == 0);
  EXPECT(stream.written == &probe.base);

  /* Client side: open, send, finish. */
  cp_client client = {0};
  client.next_type = &multi__v1__log_response__descriptor;
  cp_client_stream *cs = NULL;
  cp_status status;
  EXPECT(cp_multi__v1__uploader__upload__open(&client, NULL, &cs, &status) ==
         0);
  EXPECT(client.last_method == &cp_multi__v1__uploader__upload__method);
  EXPECT(cp_multi__v1__uploader__upload__send(cs, &line) == 0);
  EXPECT(client.last_request == &line.base);
  Multi__V1__LogResponse *resp = NULL;
  EXPECT(cp_multi__v1__uploader__upload__finish(cs, &resp, &status) == 0);
  EXPECT(resp != NULL);
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  /* A response of another type is never handed out typed. */
  client.next_type = &multi__v1__log_request__descriptor;
  resp = NULL;
  EXPECT(cp_multi__v1__uploader__upload__finish(cs, &resp, &status) ==
         CP_EINVAL);
  EXPECT(resp == NULL);
}

/* What the typed stream callbacks received, in order. */
static struct {
  int calls;
  cp_status_code code;
  const void *msg;
  void *user;
} seen_stream_cb;

static void record_stream_cb(const cp_status *status, const void *msg,
                             void *user) {
  seen_stream_cb.calls++;
  seen_stream_cb.code = status->code;
  seen_stream_cb.msg = msg;
  seen_stream_cb.user = user;
}

static void on_watch_next(const cp_status *status,
                          const Shared__V1__Result *msg, void *user) {
  record_stream_cb(status, msg, user);
}

static void on_upload_done(const cp_status *status,
                           const Multi__V1__LogResponse *resp, void *user) {
  record_stream_cb(status, resp, user);
}

static void on_talk_next(const cp_status *status,
                         const Multi__V1__Probe__Response *msg, void *user) {
  record_stream_cb(status, msg, user);
}

/* The runtime delivers one message of `type`, then the end, through the
 * stub's invoker: the typed callback gets them as its own types. */
static void deliver_stream(cp_client *client,
                           const ProtobufCMessageDescriptor *type) {
  memset(&seen_stream_cb, 0, sizeof seen_stream_cb);
  if (client->invoke == NULL) {
    failures++;
    return;
  }
  ProtobufCMessage *msg = new_message(type);
  cp_status ok = {.code = CP_STATUS_OK};
  client->invoke(client->done, &ok, msg, client->user);
  EXPECT(seen_stream_cb.calls == 1 && seen_stream_cb.msg == msg);
  EXPECT(seen_stream_cb.code == CP_STATUS_OK);
  protobuf_c_message_free_unpacked(msg, NULL); /* the runtime's to free */
  cp_status end = {.code = CP_STATUS_CANCELLED};
  client->invoke(client->done, &end, NULL, client->user);
  EXPECT(seen_stream_cb.calls == 2 && seen_stream_cb.msg == NULL);
  EXPECT(seen_stream_cb.code == CP_STATUS_CANCELLED);
  EXPECT(seen_stream_cb.user == client->user);
}

static void test_stream_async_stubs(void) {
  cp_call_options opts;
  memset(&opts, 0, sizeof opts);
  int user = 5;
  cp_client_stream *stream = NULL;

  /* Server-streaming: __start_async with a __next_fn. */
  cp_client client = {0};
  Shared__V1__Query query = SHARED__V1__QUERY__INIT;
  EXPECT(cp_multi__v1__service_registry__watch_service__start_async(
             &client, &query, &opts, on_watch_next, &user, &stream) == 0);
  EXPECT(client.last_method ==
         &cp_multi__v1__service_registry__watch_service__method);
  EXPECT(client.last_request == &query.base);
  EXPECT(client.last_opts == &opts && client.user == &user);
  EXPECT(stream != NULL && client.last_out == &stream);
  deliver_stream(&client, &shared__v1__result__descriptor);

  /* Client-streaming: __open_async with the unary-shaped __done_fn. */
  cp_client upload = {0};
  EXPECT(cp_multi__v1__uploader__upload__open_async(
             &upload, &opts, on_upload_done, &user, &stream) == 0);
  EXPECT(upload.last_method == &cp_multi__v1__uploader__upload__method);
  EXPECT(upload.last_request == NULL);
  deliver_stream(&upload, &multi__v1__log_response__descriptor);

  /* Bidirectional: __open_async with a __next_fn. */
  cp_client talk = {0};
  EXPECT(cp_multi__v1__uploader__talk__open_async(&talk, NULL, on_talk_next,
                                                  &user, &stream) == 0);
  EXPECT(talk.last_method == &cp_multi__v1__uploader__talk__method);
  deliver_stream(&talk, &multi__v1__probe__response__descriptor);

  /* A NULL callback is refused. */
  EXPECT(cp_multi__v1__uploader__talk__open_async(&talk, NULL, NULL, &user,
                                                  &stream) == CP_EINVAL);
}

int main(void) {
  test_descriptors();
  test_register_and_invoke();
  test_typed_reply();
  test_duplex_stubs();
  test_register_errors();
  test_client_stubs();
  test_async_stub();
  test_stream_async_stubs();
  if (failures > 0) {
    fprintf(stderr, "stub_test: %d failures\n", failures);
    return 1;
  }
  puts("stub_test: ok");
  return 0;
}
