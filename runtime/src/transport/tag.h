/* Completion-queue tags (internal): every operation posted to a queue carries
 * a cp_tag whose callback runs on the thread that dequeues it. */
#ifndef CPLUGIN_TRANSPORT_TAG_H
#define CPLUGIN_TRANSPORT_TAG_H

#include <grpc/grpc.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/clock.h"

typedef struct cp_tag cp_tag;
struct cp_tag {
  void (*on_done)(cp_tag *tag, bool ok);
};

/* A queue thread's whole life: dequeues from `cq` and runs each tag's
 * callback, then `after(arg)` if given, until the queue has shut down and
 * drained. For `busy_poll_ns` after each event it keeps polling without
 * sleeping (cp_server_options.busy_poll_us); 0 blocks at once. */
static inline void cp_tag_run_queue_busy(grpc_completion_queue *cq,
                                         int64_t busy_poll_ns,
                                         void (*after)(void *arg), void *arg) {
  int64_t last_event = busy_poll_ns > 0 ? cpi_clock_monotonic_ns() : 0;
  for (;;) {
    bool spin = busy_poll_ns > 0 &&
                cpi_clock_monotonic_ns() - last_event < busy_poll_ns;
    /* A deadline already passed polls the network once without waiting. */
    grpc_event ev =
        grpc_completion_queue_next(cq,
                                   spin ? gpr_inf_past(GPR_CLOCK_MONOTONIC)
                                        : gpr_inf_future(GPR_CLOCK_REALTIME),
                                   NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) {
      return;
    }
    if (ev.type == GRPC_OP_COMPLETE) {
      cp_tag *tag = ev.tag;
      tag->on_done(tag, ev.success != 0);
      if (after != NULL) {
        after(arg);
      }
      if (busy_poll_ns > 0) {
        last_event = cpi_clock_monotonic_ns();
      }
    }
  }
}

static inline void cp_tag_run_queue_then(grpc_completion_queue *cq,
                                         void (*after)(void *arg), void *arg) {
  cp_tag_run_queue_busy(cq, 0, after, arg);
}

static inline void cp_tag_run_queue(grpc_completion_queue *cq) {
  cp_tag_run_queue_then(cq, NULL, NULL);
}

#endif /* CPLUGIN_TRANSPORT_TAG_H */
