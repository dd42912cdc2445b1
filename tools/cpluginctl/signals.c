/* Stop requests through sigtimedwait (see signals.h). */
#include "signals.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

static atomic_int latched_signal;

static void stop_set(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGTERM);
}

int64_t ctl_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool ctl_stop_latched(void) {
  return atomic_load(&latched_signal) != 0;
}

bool ctl_stop_wait(int64_t timeout_ns) {
  if (ctl_stop_latched()) {
    return true;
  }
  sigset_t set;
  stop_set(&set);
  if (timeout_ns < 0) {
    timeout_ns = 0;
  }
  struct timespec ts = {(time_t)(timeout_ns / 1000000000),
                        (long)(timeout_ns % 1000000000)};
  int sig = sigtimedwait(&set, NULL, &ts);
  if (sig > 0) {
    atomic_store(&latched_signal, sig);
    return true;
  }
  return false; /* EAGAIN (timeout) or EINTR */
}

int ctl_stop_wait_forever(void) {
  int sig = atomic_load(&latched_signal);
  if (sig != 0) {
    return sig;
  }
  sigset_t set;
  stop_set(&set);
  while (sigwait(&set, &sig) != 0) {
  }
  atomic_store(&latched_signal, sig);
  return sig;
}
