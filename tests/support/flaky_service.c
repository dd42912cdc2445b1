/* EchoService handlers that fail the next N calls (see flaky_service.h). */
#include "flaky_service.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplugin/call.h"
#include "cplugintest/v1/echo.cplugin.h"

struct flaky_service {
  pthread_mutex_t mu;
  int fail_left;
  cp_status_code code;
  int64_t retry_after_ms;
  cp_status_code stream_end;
  int calls;
};

flaky_service *flaky_service_create(void) {
  flaky_service *f = calloc(1, sizeof *f);
  if (f != NULL) {
    pthread_mutex_init(&f->mu, NULL);
  }
  return f;
}

void flaky_service_destroy(flaky_service *f) {
  if (f != NULL) {
    pthread_mutex_destroy(&f->mu);
    free(f);
  }
}

void flaky_service_fail_next(flaky_service *f, int n, cp_status_code code,
                             int64_t retry_after_ms) {
  pthread_mutex_lock(&f->mu);
  f->fail_left = n;
  f->code = code;
  f->retry_after_ms = retry_after_ms;
  pthread_mutex_unlock(&f->mu);
}

void flaky_service_end_streams_with(flaky_service *f, cp_status_code code) {
  pthread_mutex_lock(&f->mu);
  f->stream_end = code;
  pthread_mutex_unlock(&f->mu);
}

int flaky_service_calls(flaky_service *f) {
  pthread_mutex_lock(&f->mu);
  int n = f->calls;
  pthread_mutex_unlock(&f->mu);
  return n;
}

/* Counts the call; returns OK to go on, or the status the call ends with. */
static cp_status_code maybe_fail(flaky_service *f, cp_call *call) {
  pthread_mutex_lock(&f->mu);
  f->calls++;
  bool fail = f->fail_left > 0;
  cp_status_code code = f->code;
  int64_t after = f->retry_after_ms;
  if (fail) {
    f->fail_left--;
  }
  pthread_mutex_unlock(&f->mu);
  if (!fail) {
    return CP_STATUS_OK;
  }
  if (after >= 0) {
    char value[24];
    snprintf(value, sizeof value, "%" PRId64, after);
    cp_call_add_trailer(call, "retry-after-ms", value);
  }
  return cp_call_error(call, code, "flaky: failing as told");
}

static cp_status_code on_echo(cp_call *call,
                              const Cplugintest__V1__EchoRequest *req,
                              Cplugintest__V1__EchoResponse *resp, void *user) {
  cp_status_code code = maybe_fail(user, call);
  if (code != CP_STATUS_OK) {
    return code;
  }
  resp->text = req->text;
  return CP_STATUS_OK;
}

static cp_status_code on_count(cp_call *call,
                               const Cplugintest__V1__CountRequest *req,
                               cp_stream *stream, void *user) {
  cp_status_code code = maybe_fail(user, call);
  if (code != CP_STATUS_OK) {
    return code;
  }
  for (int32_t i = 0; i < req->count; i++) {
    Cplugintest__V1__CountResponse msg = CPLUGINTEST__V1__COUNT_RESPONSE__INIT;
    msg.index = i;
    if (cp_stream_send(stream, &msg.base) != 0) {
      return cp_call_error(call, CP_STATUS_INTERNAL, "send failed");
    }
  }
  flaky_service *f = user;
  pthread_mutex_lock(&f->mu);
  cp_status_code end = f->stream_end;
  pthread_mutex_unlock(&f->mu);
  if (end != CP_STATUS_OK) {
    return cp_call_error(call, end, "flaky: failing after the data");
  }
  return CP_STATUS_OK;
}

int flaky_service_register(cp_server *server, flaky_service *f) {
  cp_cplugintest__v1__echo_service__handlers h;
  memset(&h, 0, sizeof h);
  h.on_echo = on_echo;
  h.on_count = on_count;
  return cp_cplugintest__v1__echo_service__register(server, &h, f);
}
