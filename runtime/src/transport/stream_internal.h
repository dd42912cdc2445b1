/* Server streams, shared by the files that build on them (internal):
 * stream.c (the stream), unary_reply.c (deferred unary replies). */
#ifndef CPLUGIN_TRANSPORT_STREAM_INTERNAL_H
#define CPLUGIN_TRANSPORT_STREAM_INTERNAL_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>

#include "transport/server_internal.h"

typedef struct out_msg {
  struct out_msg *next;
  grpc_byte_buffer *bb;
  size_t bytes;
} out_msg;

struct cp_stream {
  cp_call *call;
  pthread_mutex_t mu;
  int refs;

  out_msg *head;
  out_msg *tail;
  size_t queued_messages;
  size_t queued_bytes;
  size_t max_messages;
  size_t max_bytes;
  size_t max_message_bytes;

  bool initial_md_sent;
  bool send_in_flight;
  bool status_started;
  bool recv_close_done;
  bool finishing;  /* the final status is decided */
  bool in_handler; /* the handler is running */
  bool kept;       /* cp_stream_keep / cp_call_defer: a holder has a ref */
  bool owner_done; /* the handler or holder answered: no second answer */
  bool unary;      /* a deferred unary reply */
  bool closed;     /* no more messages can be delivered */
  bool grpc_released;
  bool detached;  /* no gRPC call: writes complete at once */
  size_t written; /* detached: messages written */
  int pending_ops;
  cp_status_code final_code;

  cp_stream_done_fn done_fn;
  cp_unary_cancel_fn cancel_fn; /* deferred replies, instead of done_fn */
  void *done_user;
  bool done_notified;

  /* Reading the client's messages (stream_read.c): one read in flight. */
  cp_generic_fn read_fn;
  cp_message_handler_invoke_fn read_invoke;
  void *read_user;
  bool reading; /* cp_stream_read was called */
  /* No read in flight: waiting for room in the send queue, or for the
   * common tail to end reading once the call is over. */
  bool read_paused;
  grpc_byte_buffer *read_bb; /* filled by the read in flight */
  cp_tag read_tag;

  out_msg *in_flight;
  grpc_slice status_details;
  cp_tag send_tag;
  cp_tag status_tag;
  cp_tag close_tag;
};

#define STREAM_OF(tagp, field) \
  ((cp_stream *)((char *)(tagp)-offsetof(cp_stream, field)))

/* A deferred unary reply is its stream under another, never dereferenced,
 * type: the API then only lets a holder of a reply answer it. */
static inline cp_unary_reply *cp_stream_as_reply(cp_stream *s) {
  return (cp_unary_reply *)(void *)s;
}

static inline cp_stream *cp_stream_of_reply(const cp_unary_reply *r) {
  return (cp_stream *)(void *)r;
}

/* A stream for `call` with the running handler's reference and gRPC's. */
cp_stream *cpi_stream_new(cp_call *call);
/* cpi_stream_new, with RECV_CLOSE_ON_SERVER started (a stream on a socket,
 * or a deferred reply): NULL when out of memory. */
cp_stream *cpi_stream_open(cp_call *call);
/* With the lock held: starts RECV_CLOSE_ON_SERVER; false when it cannot. */
bool cpi_stream_start_recv_close(cp_stream *s);
/* With the lock held: decides the final status and sends it once the queue
 * drained. */
void cpi_stream_finish_locked(cp_stream *s, cp_status_code code);
/* The handler's or holder's one answer: queues `om` (may be NULL) and ends
 * the stream with `code` and the message from `fmt`/`ap` (ap NULL: keep the
 * call's message). Drops the holder's reference. Returns 0, CP_ECLOSED when
 * the stream had ended (nothing is sent) or CP_ESTATE for a second answer. */
int cpi_stream_answer(cp_stream *s, out_msg *om, cp_status_code code,
                      const char *fmt, va_list *ap);
/* With the lock held: whether the owner must be told the stream died (then
 * a reference is taken for the callback). */
bool cpi_stream_take_done_notification(cp_stream *s);
void cpi_stream_notify_done(cp_stream *s);
/* Common tail of every completion and answer: notifications, releases, and
 * `drop` more references of the caller's. Unlocks. */
void cpi_stream_after_event_locked_then_unlock(cp_stream *s, int drop);
/* Runs the handler of a stream set up for its call (`req` NULL for
 * client-streaming and bidirectional methods). Returns the code the stream
 * ended with, or OK when it stays open. */
cp_status_code cpi_stream_run_handler(cp_stream *s, ProtobufCMessage *req);
/* stream_read.c, with the lock held: a send completed; reading paused for
 * a full send queue resumes once it has room. */
void cpi_stream_resume_read_locked(cp_stream *s);
/* Drops `n` references; called without the lock. */
void cpi_stream_unref(cp_stream *s, int n);
void cpi_stream_free_queue(out_msg *m);

#endif /* CPLUGIN_TRANSPORT_STREAM_INTERNAL_H */
