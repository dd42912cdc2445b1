/* The Echo and Chat handlers: the payload goes back unchanged (the response
 * points at the request's bytes, which live until the response is
 * serialised). */
#include "echo_handler.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "cplugin/errors.h"
#include "cplugin/load/v1/load.cplugin.h"

struct ctl_echo_counter {
  atomic_uint_least64_t ok;
};

ctl_echo_counter *ctl_echo_counter_create(void) {
  ctl_echo_counter *c = malloc(sizeof *c);
  if (c != NULL) {
    atomic_init(&c->ok, 0);
  }
  return c;
}

void ctl_echo_counter_destroy(ctl_echo_counter *counter) {
  free(counter);
}

uint64_t ctl_echo_ok(const ctl_echo_counter *counter) {
  return atomic_load(&counter->ok);
}

static cp_status_code on_echo(cp_call *call,
                              const Cplugin__Load__V1__EchoRequest *req,
                              Cplugin__Load__V1__EchoResponse *resp,
                              void *user) {
  (void)call;
  ctl_echo_counter *c = user;
  resp->payload = req->payload;
  atomic_fetch_add_explicit(&c->ok, 1, memory_order_relaxed);
  return CP_STATUS_OK;
}

/* One Chat message: echoed at once. The bidi preset sends the next message
 * only after this echo arrived, so the send queue never fills; if a client
 * does fill it (CP_EAGAIN), the stream ends rather than drop an echo
 * silently. */
static void on_chat_message(cp_stream *stream,
                            const Cplugin__Load__V1__EchoRequest *msg,
                            void *user) {
  ctl_echo_counter *c = user;
  if (msg == NULL) { /* the client half-closed, or the call ended */
    if (!cp_stream_is_closed(stream)) {
      cp_stream_finish(stream, CP_STATUS_OK, NULL);
    }
    return;
  }
  Cplugin__Load__V1__EchoResponse resp = CPLUGIN__LOAD__V1__ECHO_RESPONSE__INIT;
  resp.payload = msg->payload;
  int rc = cp_cplugin__load__v1__load_service__chat__write(stream, &resp);
  if (rc == 0) {
    atomic_fetch_add_explicit(&c->ok, 1, memory_order_relaxed);
  } else if (rc == CP_EAGAIN) {
    cp_stream_finish(stream, CP_STATUS_RESOURCE_EXHAUSTED,
                     "Chat: the client does not read its echoes");
  }
}

/* A stream that ended without its answer (cancelled, deadline, shutdown):
 * the holder finishes it. */
static void on_chat_done(cp_stream *stream, void *user) {
  (void)user;
  cp_stream_finish(stream, CP_STATUS_CANCELLED, "stream ended");
}

static cp_status_code on_chat(cp_call *call, cp_stream *stream, void *user) {
  (void)call;
  cp_stream_keep(stream);
  cp_stream_on_done(stream, on_chat_done, user);
  cp_cplugin__load__v1__load_service__chat__read(stream, on_chat_message, user);
  return CP_STATUS_OK; /* kept: ended by on_chat_message or on_chat_done */
}

int ctl_echo_register(cp_server *server, ctl_echo_counter *counter) {
  static const cp_cplugin__load__v1__load_service__handlers handlers = {
      .on_echo = on_echo, .on_chat = on_chat};
  return cp_cplugin__load__v1__load_service__register(server, &handlers,
                                                      counter);
}
