/* Completion queues that do or do not wait on the network. */
#include "transport/server_polling.h"

#include <stdlib.h>
#include <string.h>

/* GRPC_POLL_STRATEGY is a comma-separated preference list; gRPC takes the
 * first entry the platform supports, and "all" starts with epoll1 on
 * Linux, where this library runs. */
bool cpi_polling_is_shared(void) {
  const char *s = getenv("GRPC_POLL_STRATEGY");
  if (s == NULL || s[0] == '\0') {
    return true;
  }
  size_t n = strcspn(s, ",");
  return (n == 6 && strncmp(s, "epoll1", 6) == 0) ||
         (n == 3 && strncmp(s, "all", 3) == 0);
}

grpc_completion_queue *cpi_server_cq_create(bool non_polling) {
  if (!non_polling) {
    return grpc_completion_queue_create_for_next(NULL);
  }
  grpc_completion_queue_attributes attr;
  memset(&attr, 0, sizeof attr);
  attr.version = 1;
  attr.cq_completion_type = GRPC_CQ_NEXT;
  attr.cq_polling_type = GRPC_CQ_NON_POLLING;
  return grpc_completion_queue_create(
      grpc_completion_queue_factory_lookup(&attr), &attr, NULL);
}

void cpi_poll_network_ms(int64_t ms) {
  /* A pluck for a tag nobody posts: the thread polls until the deadline. */
  grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
  gpr_timespec until = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                    gpr_time_from_millis(ms, GPR_TIMESPAN));
  (void)grpc_completion_queue_pluck(cq, cq, until, NULL);
  grpc_completion_queue_shutdown(cq);
  grpc_completion_queue_destroy(cq);
}
