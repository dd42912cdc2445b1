/* late-ready-plugin NAME DELAY_MS: a plugin whose on_started takes DELAY_MS
 * (as one that opens a database or dials its dependencies would), so that
 * it is HEALTHY with the host well before its services are registered.
 * It provides "logger" (capability.logger.v1.Logger, every record
 * accepted) under the self_id NAME. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capability/logger/v1/logger.cplugin.h"
#include "cplugin/cplugin.h"

static cp_status_code on_log(cp_call *call,
                             const Capability__Logger__V1__LogRequest *req,
                             Capability__Logger__V1__LogResponse *resp,
                             void *user) {
  (void)call;
  (void)req;
  (void)resp;
  (void)user;
  return CP_STATUS_OK;
}

static int register_handlers(cp_server *server, void *user) {
  cp_capability__logger__v1__logger__handlers h;
  memset(&h, 0, sizeof h);
  h.on_log = on_log;
  return cp_capability__logger__v1__logger__register(server, &h, user);
}

static int take_time(cp_plugin_runtime *rt, void *user) {
  (void)rt;
  long ms = *(const long *)user;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
  return 0;
}

int main(int argc, char **argv) {
  char *end = NULL;
  long delay_ms = argc == 3 ? strtol(argv[2], &end, 10) : -1;
  if (argc != 3 || *end != '\0' || delay_ms < 0 || delay_ms > 60000) {
    fprintf(stderr, "usage: late-ready-plugin NAME DELAY_MS (0..60000)\n");
    return 2;
  }
  static const cp_plugin_desc *const provides[] = {
      &cp_capability__logger__v1__logger__plugin};
  cp_plugin_serve_options o;
  cp_plugin_serve_options_init(&o);
  o.self_id = argv[1];
  o.provides = provides;
  o.provides_count = 1;
  o.setup = register_handlers;
  o.on_started = take_time;
  o.user = &delay_ms;
  o.grace_ms = 2000;
  return cp_plugin_serve(&o) == 0 ? 0 : 1;
}
