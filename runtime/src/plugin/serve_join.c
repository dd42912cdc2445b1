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
#include "plugin/runtime_internal.h"

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

/* Whether an attempt that failed this way may succeed later: the host is
 * not reachable yet, or (registering) it dropped the identity just
 * obtained, which the runtime's supervisor is recovering. */
static bool worth_retrying(int rc, const cp_status *st, bool joined) {
  return rc == CP_ERPC && (st->code == CP_STATUS_UNAVAILABLE ||
                           st->code == CP_STATUS_DEADLINE_EXCEEDED ||
                           (joined && st->code == CP_STATUS_UNAUTHENTICATED));
}

typedef struct attempt {
  const char *failed;   /* the log line of a final failure */
  const char *retrying; /* the log line of each retry */
  bool joined;          /* registering (true) or joining (false) */
  cp_plugin_runtime **rt;
  const cp_plugin_runtime_options *ro;
} attempt;

static int try_once(const attempt *a, cp_status *st) {
  return a->joined ? cpi_rt_register_held(*a->rt, st)
                   : cpi_plugin_runtime_start_held(a->rt, a->ro, st);
}

/* Runs `a` until it succeeds, fails for good, `wait_ms` passed or a stop
 * signal arrived, backing off in between. */
static int retry(const attempt *a, int64_t wait_ms, const sigset_t *stop) {
  int64_t start = cpi_clock_monotonic_ns();
  int64_t delay = FIRST_RETRY_MS;
  for (;;) {
    cp_status st = {CP_STATUS_OK, ""};
    int rc = try_once(a, &st);
    if (rc == 0) {
      return 0;
    }
    int64_t waited = (cpi_clock_monotonic_ns() - start) / 1000000;
    int64_t pause = delay;
    if (wait_ms >= 0 && waited + pause > wait_ms) {
      pause = wait_ms - waited;
    }
    if (!worth_retrying(rc, &st, a->joined) || pause <= 0) {
      cp_log(CP_LOG_ERROR, a->failed, "error",
             rc == CP_ERPC ? cp_status_code_name(st.code) : cp_strerror(rc),
             "message", st.message, CP_LOG_END);
      return rc;
    }
    char ms[24];
    snprintf(ms, sizeof ms, "%lld", (long long)pause);
    cp_log(CP_LOG_INFO, a->retrying, "status", cp_status_code_name(st.code),
           "message", st.message, "retry_ms", ms, CP_LOG_END);
    if (signalled_within(stop, pause)) {
      return SERVE_JOIN_STOPPED;
    }
    delay = delay * 2 > LAST_RETRY_MS ? LAST_RETRY_MS : delay * 2;
  }
}

int cpi_serve_join(cp_plugin_runtime **rt, const cp_plugin_runtime_options *ro,
                   int64_t wait_ms, const sigset_t *stop) {
  attempt a = {"cannot join the host", "host not reachable yet; retrying",
               false, rt, ro};
  return retry(&a, wait_ms, stop);
}

int cpi_serve_register(cp_plugin_runtime *rt, int64_t wait_ms,
                       const sigset_t *stop) {
  attempt a = {"cannot register with the host", "cannot register yet; retrying",
               true, &rt, NULL};
  return retry(&a, wait_ms, stop);
}
