/* ListRegistry and Watch: the registry as the operator sees it, behind the
 * admin check. */
#include <stdlib.h>
#include <string.h>

#include "admin/admin_internal.h"
#include "cplugin/errors.h"

static cp_status_code no_registry(cp_call *call) {
  return cp_call_error(call, CP_STATUS_FAILED_PRECONDITION,
                       "no service registry");
}

/* Collects copies while the registry's read lock is held: per-call memory
 * for the messages, a growing array of pointers. */
typedef struct collect {
  cp_call *call;
  Cplugin__Admin__V1__Registration **items;
  size_t count;
  size_t cap;
  bool failed;
} collect;

static char *dup_or_fail(collect *c, const char *s) {
  char *d = cp_call_strdup(c->call, s);
  if (d == NULL) {
    c->failed = true;
  }
  return d;
}

static void on_item(const cp_registry_listing *item, void *user) {
  collect *c = user;
  if (c->failed) {
    return;
  }
  if (c->count == c->cap) {
    size_t cap = c->cap != 0 ? c->cap * 2 : 16;
    void *grown = realloc(c->items, cap * sizeof *c->items);
    if (grown == NULL) {
      c->failed = true;
      return;
    }
    c->items = grown;
    c->cap = cap;
  }
  Cplugin__Admin__V1__Registration *m = cp_call_alloc(c->call, sizeof *m);
  if (m == NULL) {
    c->failed = true;
    return;
  }
  cplugin__admin__v1__registration__init(m);
  const cp_registry_endpoint *e = &item->endpoint;
  m->service_type = dup_or_fail(c, item->service_type);
  m->version = dup_or_fail(c, e->version);
  m->endpoint_path = dup_or_fail(c, e->endpoint_path);
  m->provider_id = dup_or_fail(c, e->provider_id);
  m->registration_id = dup_or_fail(c, e->registration_id);
  m->base_url = dup_or_fail(c, e->base_url);
  m->health = (Cplugin__Admin__V1__Health)e->health;
  m->routable = item->routable;
  c->items[c->count++] = m;
}

static int by_type_then_provider(const void *x, const void *y) {
  const Cplugin__Admin__V1__Registration *a =
      *(Cplugin__Admin__V1__Registration *const *)x;
  const Cplugin__Admin__V1__Registration *b =
      *(Cplugin__Admin__V1__Registration *const *)y;
  int d = strcmp(a->service_type, b->service_type);
  if (d == 0) {
    d = strcmp(a->provider_id, b->provider_id);
  }
  return d != 0 ? d : strcmp(a->registration_id, b->registration_id);
}

cp_status_code cpi_admin_on_list_registry(
    cp_call *call, const Cplugin__Admin__V1__ListRegistryRequest *req,
    Cplugin__Admin__V1__ListRegistryResponse *resp, void *user) {
  cp_admin *a = user;
  char principal[CP_PRINCIPAL_MAX + 1];
  cp_status_code code = cpi_admin_authorize(a, call, principal);
  if (code != CP_STATUS_OK) {
    return code;
  }
  if (a->registry == NULL) {
    return no_registry(call);
  }
  collect c = {.call = call};
  const char *type = req->service_type[0] != '\0' ? req->service_type : NULL;
  int rc = cp_registry_list(a->registry, type, on_item, &c, NULL);
  if (rc == 0 && !c.failed && c.count > 0) {
    qsort(c.items, c.count, sizeof *c.items, by_type_then_provider);
    resp->registrations = cp_call_alloc(call, c.count * sizeof *c.items);
    if (resp->registrations != NULL) {
      memcpy(resp->registrations, c.items, c.count * sizeof *c.items);
      resp->n_registrations = c.count;
    } else {
      c.failed = true;
    }
  }
  free(c.items);
  if (rc != 0 || c.failed) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  return CP_STATUS_OK;
}

cp_status_code cpi_admin_on_watch(cp_call *call,
                                  const Cplugin__Admin__V1__WatchRequest *req,
                                  cp_stream *stream, void *user) {
  cp_admin *a = user;
  char principal[CP_PRINCIPAL_MAX + 1];
  cp_status_code code = cpi_admin_authorize(a, call, principal);
  if (code != CP_STATUS_OK) {
    return code;
  }
  if (a->registry == NULL) {
    return no_registry(call);
  }
  /* The registry's own watch, counted against the operator's principal
   * (never a runtime ID: principals contain ':'), so its per-runtime cap
   * bounds one operator's watches. */
  return cp_registry_watch(a->registry, call, stream, req->service_type,
                           principal);
}
