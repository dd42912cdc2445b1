/* A served plugin joins its host, waiting for one that is not up yet. */
#define _GNU_SOURCE /* sigtimedwait */
#include "plugin/serve_join.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "core/clock.h"
#include "cplugin/errors.h"
#include "cplugin/log.h"

enum { FIRST_RETRY_MS = 100, LAST_RETRY_MS = 5000 };

/* Waits `ms` for a signal of `stop`; true when one arrived. */
static bool signalled_within(const sigset_t *stop, int64_t ms) {
  int64_t end = cpi_clock_monotonic_ns() + ms * 1000000;
  for (;;) {
    int64_t left = end - cpi_clock_monotonic_ns();
    if (left <= 0) {
      return false;
    }
    struct timespec ts = {left / 1000000000, left % 1000000000};
    if (sigtimedwait(stop, NULL, &ts) > 0) {
      return true;
    }
    if (errno != EINTR && errno != EAGAIN) {
      return false;
    }
  }
}

static bool unreachable(int rc, const cp_status *st) {
  return rc == CP_ERPC && (st->code == CP_STATUS_UNAVAILABLE ||
                           st->code == CP_STATUS_DEADLINE_EXCEEDED);
}

int cpi_serve_join(cp_plugin_runtime **rt, const cp_plugin_runtime_options *ro,
                   int64_t wait_ms, const sigset_t *stop) {
  int64_t start = cpi_clock_monotonic_ns();
  int64_t delay = FIRST_RETRY_MS;
  for (;;) {
    cp_status st = {CP_STATUS_OK, ""};
    int rc = cp_plugin_runtime_start(rt, ro, &st);
    if (rc == 0) {
      return 0;
    }
    int64_t waited = (cpi_clock_monotonic_ns() - start) / 1000000;
    int64_t pause = delay;
    if (wait_ms >= 0 && waited + pause > wait_ms) {
      pause = wait_ms - waited;
    }
    if (!unreachable(rc, &st) || pause <= 0) {
      cp_log(CP_LOG_ERROR, "cannot join the host", "error",
             rc == CP_ERPC ? cp_status_code_name(st.code) : cp_strerror(rc),
             "message", st.message, CP_LOG_END);
      return rc;
    }
    char ms[24];
    snprintf(ms, sizeof ms, "%lld", (long long)pause);
    cp_log(CP_LOG_INFO, "host not reachable yet; retrying", "status",
           cp_status_code_name(st.code), "message", st.message, "retry_ms", ms,
           CP_LOG_END);
    if (signalled_within(stop, pause)) {
      return SERVE_JOIN_STOPPED;
    }
    delay = delay * 2 > LAST_RETRY_MS ? LAST_RETRY_MS : delay * 2;
  }
}
