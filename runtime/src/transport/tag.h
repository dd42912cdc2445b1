/* Completion-queue tags (internal): every operation posted to a queue carries
 * a cp_tag whose callback runs on the thread that dequeues it. */
#ifndef CPLUGIN_TRANSPORT_TAG_H
#define CPLUGIN_TRANSPORT_TAG_H

#include <grpc/grpc.h>
#include <stdbool.h>

typedef struct cp_tag cp_tag;
struct cp_tag {
  void (*on_done)(cp_tag *tag, bool ok);
};

/* A queue thread's whole life: dequeues from `cq` and runs each tag's
 * callback, then `after(arg)` if given, until the queue has shut down and
 * drained. */
static inline void cp_tag_run_queue_then(grpc_completion_queue *cq,
                                         void (*after)(void *arg), void *arg) {
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(
        cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) {
      return;
    }
    if (ev.type == GRPC_OP_COMPLETE) {
      cp_tag *tag = ev.tag;
      tag->on_done(tag, ev.success != 0);
      if (after != NULL) {
        after(arg);
      }
    }
  }
}

static inline void cp_tag_run_queue(grpc_completion_queue *cq) {
  cp_tag_run_queue_then(cq, NULL, NULL);
}

#endif /* CPLUGIN_TRANSPORT_TAG_H */
