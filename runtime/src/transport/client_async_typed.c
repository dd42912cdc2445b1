/* Asynchronous calls for generated typed stubs: the typed callback travels
 * type-erased with the stub's invoker, and the response is lent to it (freed
 * here once it returned), so a stub needs no allocation of its own. */
#include <stdlib.h>

#include "cplugin/client.h"
#include "cplugin/errors.h"

typedef struct typed_call {
  cp_unary_invoke_fn invoke;
  cp_generic_fn done;
  void *user;
} typed_call;

static void typed_done(const cp_status *status, ProtobufCMessage *resp,
                       void *arg) {
  typed_call t = *(typed_call *)arg;
  free(arg);
  t.invoke(t.done, status, resp, t.user);
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(resp, NULL);
  }
}

int cp_client_unary_async_typed(cp_client *client, const cp_method_desc *method,
                                const ProtobufCMessage *req,
                                const cp_call_options *opts,
                                cp_unary_invoke_fn invoke, cp_generic_fn done,
                                void *user) {
  if (invoke == NULL || done == NULL) {
    return CP_EINVAL;
  }
  typed_call *t = malloc(sizeof *t);
  if (t == NULL) {
    return CP_ENOMEM;
  }
  t->invoke = invoke;
  t->done = done;
  t->user = user;
  int rc = cp_client_unary_async(client, method, req, opts, typed_done, t);
  if (rc != 0) {
    free(t); /* typed_done never runs */
  }
  return rc;
}
