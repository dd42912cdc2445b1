/* EchoService handlers for the transport tests. */
#include "echo_service.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cplugin/errors.h"
#include "cplugintest/v1/echo.cplugin.h"

struct echo_stats {
  atomic_int counters[ECHO_STAT_COUNT];
};

echo_stats *echo_stats_create(void) {
  echo_stats *stats = malloc(sizeof *stats);
  if (stats != NULL) {
    for (int i = 0; i < ECHO_STAT_COUNT; i++) {
      atomic_init(&stats->counters[i], 0);
    }
  }
  return stats;
}

void echo_stats_destroy(echo_stats *stats) {
  free(stats);
}

int echo_stats_get(echo_stats *stats, echo_stat which) {
  return atomic_load(&stats->counters[which]);
}

static void bump(echo_stats *stats, echo_stat which) {
  atomic_fetch_add(&stats->counters[which], 1);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static cp_status_code on_echo(cp_call *call,
                              const Cplugintest__V1__EchoRequest *req,
                              Cplugintest__V1__EchoResponse *resp, void *user) {
  echo_stats *stats = user;
  bump(stats, ECHO_CALLS);
  if (req->delay_ms > 0) {
    sleep_ms(req->delay_ms);
  }
  if (req->fail_code != 0) {
    return cp_call_error(call, (cp_status_code)req->fail_code,
                         "failed as asked: %s", req->text);
  }
  resp->text = req->text;
  const char *identity = cp_call_identity(call, NULL);
  resp->identity = identity != NULL ? (char *)identity : "";
  resp->peer = (char *)cp_call_peer(call);
  int64_t deadline = cp_call_deadline_ns(call);
  resp->has_deadline = deadline != CP_DEADLINE_NONE;
  if (resp->has_deadline) {
    resp->deadline_left_ms = (deadline - now_ns()) / 1000000;
  }
  resp->payload = req->payload;
  if (req->response_bytes > 0) {
    uint8_t *big = cp_call_alloc(call, (size_t)req->response_bytes);
    if (big == NULL) {
      return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "no memory");
    }
    memset(big, 'x', (size_t)req->response_bytes);
    resp->payload.data = big;
    resp->payload.len = (size_t)req->response_bytes;
  }
  if (req->metadata_key != NULL && req->metadata_key[0] != '\0') {
    cp_str v;
    if (cp_call_metadata(call, req->metadata_key, &v)) {
      char *copy = cp_call_alloc(call, v.len + 1);
      memcpy(copy, v.ptr, v.len);
      resp->metadata_value = copy;
    }
  }
  return CP_STATUS_OK;
}

static void on_count_done(cp_stream *stream, void *user) {
  echo_stats *stats = user;
  bump(stats, STREAMS_DONE);
  cp_stream_finish(stream, CP_STATUS_CANCELLED, "stream ended");
}

static cp_status_code on_count(cp_call *call,
                               const Cplugintest__V1__CountRequest *req,
                               cp_stream *stream, void *user) {
  echo_stats *stats = user;
  bump(stats, COUNT_CALLS);
  if (req->count < 0 || req->payload_bytes < 0) {
    return cp_call_error(call, CP_STATUS_INVALID_ARGUMENT, "negative count");
  }
  uint8_t *payload = NULL;
  if (req->payload_bytes > 0) {
    payload = cp_call_alloc(call, (size_t)req->payload_bytes);
    if (payload == NULL) {
      return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "no memory");
    }
  }
  for (int32_t i = 0; i < req->count; i++) {
    Cplugintest__V1__CountResponse msg = CPLUGINTEST__V1__COUNT_RESPONSE__INIT;
    msg.index = i;
    msg.payload.data = payload;
    msg.payload.len = (size_t)req->payload_bytes;
    int rc = cp_stream_send(stream, &msg.base);
    if (rc == 0) {
      bump(stats, MESSAGES_QUEUED);
    } else if (rc == CP_EAGAIN) {
      bump(stats, SEND_EAGAIN);
    } else {
      return cp_call_error(call, CP_STATUS_INTERNAL, "send failed: %s",
                           cp_strerror(rc));
    }
  }
  if (req->keep_open) {
    cp_stream_keep(stream);
    cp_stream_on_done(stream, on_count_done, stats);
  }
  return CP_STATUS_OK;
}

/* --- Collect and Chat: the client streams -------------------------------- */

/* Client-streaming and bidirectional calls that the client cancels or that
 * fail end here: the holder finishes its stream. */
static void on_duplex_done(cp_stream *stream, void *user) {
  bump(user, STREAMS_DONE);
  cp_stream_finish(stream, CP_STATUS_CANCELLED, "stream ended");
}

enum { COLLECT_MAX_TEXT = 4096 };

typedef struct collect_state {
  char text[COLLECT_MAX_TEXT];
  size_t len;
  char identity[128];
} collect_state;

/* A message asks for what the unary Echo does: a delay (a slow reader) or
 * a failure (an early answer). Returns false when it ended the call. */
static bool obey(cp_stream *stream, const Cplugintest__V1__EchoRequest *msg) {
  if (msg->delay_ms > 0) {
    sleep_ms(msg->delay_ms);
  }
  if (msg->fail_code != 0) {
    cp_stream_finish(stream, (cp_status_code)msg->fail_code,
                     "failed as asked: %s", msg->text);
    return false;
  }
  return true;
}

static void on_collect_message(cp_stream *stream,
                               const Cplugintest__V1__EchoRequest *msg,
                               void *user) {
  collect_state *st = user;
  if (msg == NULL) {
    if (!cp_stream_is_closed(stream)) {
      Cplugintest__V1__EchoResponse resp = CPLUGINTEST__V1__ECHO_RESPONSE__INIT;
      resp.text = st->text;
      resp.identity = st->identity;
      cp_cplugintest__v1__echo_service__collect__reply(stream, &resp);
    }
    free(st); /* the end of reading: nothing refers to it any more */
    return;
  }
  if (!obey(stream, msg)) {
    return;
  }
  size_t n = strlen(msg->text);
  if (st->len + n + 1 > sizeof st->text) {
    cp_stream_finish(stream, CP_STATUS_RESOURCE_EXHAUSTED,
                     "more than %d bytes of text", COLLECT_MAX_TEXT);
    return;
  }
  memcpy(st->text + st->len, msg->text, n + 1);
  st->len += n;
}

static cp_status_code on_collect(cp_call *call, cp_stream *stream, void *user) {
  collect_state *st = calloc(1, sizeof *st);
  if (st == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "no memory");
  }
  const char *identity = cp_call_identity(call, NULL);
  snprintf(st->identity, sizeof st->identity, "%s",
           identity != NULL ? identity : "");
  cp_stream_keep(stream);
  cp_stream_on_done(stream, on_duplex_done, user);
  cp_cplugintest__v1__echo_service__collect__read(stream, on_collect_message,
                                                  st);
  return CP_STATUS_OK; /* kept: answered by on_collect_message */
}

static void on_chat_message(cp_stream *stream,
                            const Cplugintest__V1__EchoRequest *msg,
                            void *user) {
  echo_stats *stats = user;
  if (msg == NULL) {
    if (!cp_stream_is_closed(stream)) {
      cp_stream_finish(stream, CP_STATUS_OK, NULL);
    }
    return;
  }
  if (!obey(stream, msg)) {
    return;
  }
  Cplugintest__V1__EchoResponse resp = CPLUGINTEST__V1__ECHO_RESPONSE__INIT;
  resp.text = msg->text;
  resp.payload = msg->payload;
  int rc = cp_cplugintest__v1__echo_service__chat__write(stream, &resp);
  if (rc == 0) {
    bump(stats, MESSAGES_QUEUED);
  } else if (rc == CP_EAGAIN) {
    bump(stats, SEND_EAGAIN);
  }
}

static cp_status_code on_chat(cp_call *call, cp_stream *stream, void *user) {
  (void)call;
  cp_stream_keep(stream);
  cp_stream_on_done(stream, on_duplex_done, user);
  cp_cplugintest__v1__echo_service__chat__read(stream, on_chat_message, user);
  return CP_STATUS_OK; /* kept: ended by on_chat_message */
}

int echo_service_register(cp_server *server, echo_stats *stats) {
  cp_cplugintest__v1__echo_service__handlers h;
  memset(&h, 0, sizeof h);
  h.on_echo = on_echo;
  h.on_count = on_count;
  h.on_collect = on_collect;
  h.on_chat = on_chat;
  return cp_cplugintest__v1__echo_service__register(server, &h, stats);
}
