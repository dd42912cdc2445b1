/* The middle plugin's Echo: one downstream call per call, in one of three
 * styles (middle_echo.h). */
#include "middle_echo.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cplugin/call.h"
#include "cplugin/errors.h"
#include "cplugin/load/v1/load.cplugin.h"
#include "echo_handler.h"

/* The pool's queue: large enough never to refuse a call of this benchmark
 * (a refusal would turn into a storm of RESOURCE_EXHAUSTED in a closed
 * loop); cp_server_run_blocking's maximum. */
enum { POOL_QUEUE_LENGTH = 1048576 };

struct ctl_middle_echo {
  ctl_middle_style style;
  _Atomic(cp_client *) downstream;
  atomic_uint_least64_t ok;
};

/* A deferred call's state on its way through the downstream call. */
typedef struct deferred {
  ctl_middle_echo *echo;
  cp_unary_reply *reply;
} deferred;

ctl_middle_echo *ctl_middle_echo_create(ctl_middle_style style) {
  ctl_middle_echo *e = malloc(sizeof *e);
  if (e != NULL) {
    e->style = style;
    atomic_init(&e->downstream, NULL);
    atomic_init(&e->ok, 0);
  }
  return e;
}

void ctl_middle_echo_destroy(ctl_middle_echo *echo) {
  free(echo);
}

void ctl_middle_echo_set_downstream(ctl_middle_echo *echo, cp_client *client) {
  atomic_store(&echo->downstream, client);
}

uint64_t ctl_middle_echo_ok(const ctl_middle_echo *echo) {
  return atomic_load(&((ctl_middle_echo *)echo)->ok);
}

static void count_ok(ctl_middle_echo *e) {
  atomic_fetch_add_explicit(&e->ok, 1, memory_order_relaxed);
}

/* What is left of the caller's deadline as a downstream timeout (0 = the
 * caller set none); false when nothing is left. */
static bool downstream_timeout(cp_call *call, cp_call_options *opts) {
  cp_call_options_init(opts);
  int64_t deadline = cp_call_deadline_ns(call);
  if (deadline == CP_DEADLINE_NONE) {
    return true;
  }
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t left = deadline - ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
  if (left <= 0) {
    return false;
  }
  opts->timeout_ms = (left + 999999) / 1000000; /* rounded up: never 0 */
  return true;
}

/* --- deferred ----------------------------------------------------------- */

static void on_downstream_done(const cp_status *status,
                               const Cplugin__Load__V1__EchoResponse *resp,
                               void *user) {
  deferred *d = user;
  ctl_middle_echo *e = d->echo; /* d lives in the call: read it first */
  if (status->code == CP_STATUS_OK && resp != NULL) {
    Cplugin__Load__V1__EchoResponse out =
        CPLUGIN__LOAD__V1__ECHO_RESPONSE__INIT;
    out.payload = resp->payload;
    if (cp_cplugin__load__v1__load_service__echo__reply(d->reply, &out) == 0) {
      count_ok(e);
    }
  } else {
    cp_unary_reply_fail(d->reply, status->code, "downstream: %s",
                        status->message);
  }
}

static cp_status_code echo_deferred(ctl_middle_echo *e, cp_client *client,
                                    cp_call *call,
                                    const Cplugin__Load__V1__EchoRequest *req) {
  cp_call_options opts;
  if (!downstream_timeout(call, &opts)) {
    return cp_call_error(call, CP_STATUS_DEADLINE_EXCEEDED, "deadline passed");
  }
  /* Per-call memory stays valid while the reply is deferred. */
  deferred *d = cp_call_alloc(call, sizeof *d);
  cp_unary_reply *reply = d != NULL ? cp_call_defer(call) : NULL;
  if (reply == NULL) {
    return cp_call_error(call, CP_STATUS_INTERNAL, "cannot defer the reply");
  }
  d->echo = e;
  d->reply = reply;
  int rc = cp_cplugin__load__v1__load_service__echo__call_async(
      client, req, &opts, on_downstream_done, d);
  if (rc != 0) {
    cp_unary_reply_fail(reply, CP_STATUS_UNAVAILABLE,
                        "downstream call not started: %s", cp_strerror(rc));
  }
  return CP_STATUS_OK; /* not used: the reply was taken */
}

/* --- pool and blocking: the same handler, on different threads ---------- */

static cp_status_code echo_blocking(ctl_middle_echo *e, cp_client *client,
                                    cp_call *call,
                                    const Cplugin__Load__V1__EchoRequest *req,
                                    Cplugin__Load__V1__EchoResponse *resp) {
  cp_call_options opts;
  if (!downstream_timeout(call, &opts)) {
    return cp_call_error(call, CP_STATUS_DEADLINE_EXCEEDED, "deadline passed");
  }
  Cplugin__Load__V1__EchoResponse *got = NULL;
  cp_status st;
  int rc = cp_cplugin__load__v1__load_service__echo__call(client, req, &got,
                                                          &opts, &st);
  if (rc != 0) {
    return cp_call_error(call, rc == CP_ERPC ? st.code : CP_STATUS_UNAVAILABLE,
                         "downstream: %s",
                         rc == CP_ERPC ? st.message : cp_strerror(rc));
  }
  /* `resp` is sent after the handler returns: its bytes must live in the
   * call, not in `got`. */
  size_t len = got->payload.len;
  uint8_t *bytes = cp_call_alloc(call, len > 0 ? len : 1);
  if (bytes == NULL) {
    protobuf_c_message_free_unpacked(&got->base, NULL);
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  if (len > 0) {
    memcpy(bytes, got->payload.data, len);
  }
  protobuf_c_message_free_unpacked(&got->base, NULL);
  resp->payload.data = bytes;
  resp->payload.len = len;
  count_ok(e);
  return CP_STATUS_OK;
}

static cp_status_code on_echo(cp_call *call,
                              const Cplugin__Load__V1__EchoRequest *req,
                              Cplugin__Load__V1__EchoResponse *resp,
                              void *user) {
  ctl_middle_echo *e = user;
  cp_client *client = atomic_load(&e->downstream);
  if (client == NULL) {
    return cp_call_error(call, CP_STATUS_UNAVAILABLE,
                         "not joined with the host yet");
  }
  if (e->style == CTL_MIDDLE_DEFERRED) {
    return echo_deferred(e, client, call, req);
  }
  return echo_blocking(e, client, call, req, resp);
}

int ctl_middle_echo_register(cp_server *server, ctl_middle_echo *echo,
                             unsigned pool_threads) {
  static const cp_cplugin__load__v1__load_service__handlers handlers = {
      .on_echo = on_echo};
  int rc =
      cp_cplugin__load__v1__load_service__register(server, &handlers, echo);
  if (rc == 0 && echo->style == CTL_MIDDLE_POOL) {
    cp_worker_pool_options po;
    cp_worker_pool_options_init(&po);
    po.threads = pool_threads;
    po.queue_length = POOL_QUEUE_LENGTH;
    rc = cp_server_run_blocking(server, CTL_LOAD_SERVICE_PATH, &po);
  }
  return rc;
}
