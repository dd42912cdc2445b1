/* Condition waits with a deadline for the tests (see wait.h). */
#define _GNU_SOURCE
#include "wait.h"

#include <stdlib.h>
#include <time.h>

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int test_wait_ms(void) {
  const char *env = getenv("CPLUGIN_TEST_WAIT_MS");
  if (env != NULL) {
    char *end = NULL;
    long v = strtol(env, &end, 10);
    if (end != env && *end == '\0' && v > 0 && v <= 3600 * 1000) {
      return (int)v;
    }
  }
  return TEST_WAIT_DEFAULT_MS;
}

int test_wait_until(int (*cond)(void *arg), void *arg, int timeout_ms) {
  if (timeout_ms < 0) {
    timeout_ms = test_wait_ms();
  }
  long long until = now_ms() + timeout_ms;
  long nap_us = 1000;
  for (;;) {
    if (cond(arg)) {
      return 1;
    }
    long long left = until - now_ms();
    if (left <= 0) {
      return cond(arg) ? 1 : 0;
    }
    long us = nap_us;
    if (us > left * 1000) {
      us = (long)(left * 1000);
    }
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
    if (nap_us < 20000) {
      nap_us *= 2;
    }
  }
}
