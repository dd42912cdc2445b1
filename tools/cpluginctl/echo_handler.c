/* The Echo handler: the payload goes back unchanged (the response points at
 * the request's bytes, which live until the response is sent). */
#include "echo_handler.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "cplugin/load/v1/load.cplugin.h"

struct ctl_echo_counter {
  atomic_uint_least64_t ok;
};

ctl_echo_counter *ctl_echo_counter_create(void) {
  ctl_echo_counter *c = malloc(sizeof *c);
  if (c != NULL) {
    atomic_init(&c->ok, 0);
  }
  return c;
}

void ctl_echo_counter_destroy(ctl_echo_counter *counter) {
  free(counter);
}

uint64_t ctl_echo_ok(const ctl_echo_counter *counter) {
  return atomic_load(&counter->ok);
}

static cp_status_code on_echo(cp_call *call,
                              const Cplugin__Load__V1__EchoRequest *req,
                              Cplugin__Load__V1__EchoResponse *resp,
                              void *user) {
  (void)call;
  ctl_echo_counter *c = user;
  resp->payload = req->payload;
  atomic_fetch_add_explicit(&c->ok, 1, memory_order_relaxed);
  return CP_STATUS_OK;
}

int ctl_echo_register(cp_server *server, ctl_echo_counter *counter) {
  static const cp_cplugin__load__v1__load_service__handlers handlers = {
      .on_echo = on_echo};
  return cp_cplugin__load__v1__load_service__register(server, &handlers,
                                                      counter);
}
