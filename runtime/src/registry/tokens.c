/* Revocation and expiry of runtime tokens: the runtime's state leaves the
 * registry.
 *
 * A token store keeps its listeners for its whole life and offers no way to
 * unsubscribe, while a registry may be destroyed first. So the listener's
 * argument is not the registry but a number that names it in a process-wide
 * list of live registries; a destroyed registry leaves the list, and later
 * events for its number find nothing. The list's mutex is held while a
 * registry handles an event, so destroy waits for a running handler. */
#include <pthread.h>
#include <stdint.h>

#include "cplugin/auth.h"
#include "cplugin/errors.h"
#include "registry/registry_internal.h"

static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static cp_registry *live_head;
static uint64_t live_last_id;

static void on_token_event(const char *runtime_id, cp_token_event event,
                           void *user) {
  uint64_t id = (uint64_t)(uintptr_t)user;
  pthread_mutex_lock(&live_mu);
  cp_registry *reg = live_head;
  while (reg != NULL && reg->live_id != id) {
    reg = reg->live_next;
  }
  if (reg != NULL) {
    cpi_reg_drop_runtime(reg, runtime_id, CP_STATUS_UNAUTHENTICATED,
                         event == CP_TOKEN_EXPIRED
                             ? "runtime identity expired"
                             : "runtime identity revoked");
  }
  pthread_mutex_unlock(&live_mu);
}

int cpi_reg_tokens_attach(cp_registry *reg) {
  pthread_mutex_lock(&live_mu);
  reg->live_id = ++live_last_id;
  reg->live_next = live_head;
  live_head = reg;
  pthread_mutex_unlock(&live_mu);
  /* The pointer carries the number only; it is never dereferenced. */
  void *name =
      (void *)(uintptr_t)reg->live_id;  // NOLINT(performance-no-int-to-ptr)
  int rc = cp_token_store_subscribe(reg->tokens, on_token_event, name);
  if (rc != 0) {
    cpi_reg_tokens_detach(reg);
  }
  return rc;
}

void cpi_reg_tokens_detach(cp_registry *reg) {
  pthread_mutex_lock(&live_mu);
  for (cp_registry **link = &live_head; *link != NULL;
       link = &(*link)->live_next) {
    if (*link == reg) {
      *link = reg->live_next;
      break;
    }
  }
  pthread_mutex_unlock(&live_mu);
  reg->live_id = 0;
}

bool cpi_reg_token_still_valid(cp_registry *reg, cp_call *call) {
  if (reg->tokens == NULL) {
    return true;
  }
  cp_str id;
  cp_str authz;
  static const char bearer[] = "Bearer ";
  const size_t prefix = sizeof bearer - 1;
  if (!cp_call_metadata(call, CP_MD_RUNTIME_ID, &id) ||
      !cp_call_metadata(call, CP_MD_AUTHORIZATION, &authz) ||
      authz.len <= prefix) {
    return false;
  }
  return cp_token_store_validate(reg->tokens, id.ptr, id.len,
                                 authz.ptr + prefix, authz.len - prefix);
}
