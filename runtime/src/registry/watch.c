/* WatchService: watchers per service type, the events they are offered when
 * the type's answer changes, and their end (client gone, runtime removed,
 * registry closed). Delivery, coalescing and retries are push/push.c's. */
#include <stdlib.h>
#include <string.h>

#include "cplugin/log.h"
#include "plugin/v1/registry.pb-c.h"
#include "registry/registry_internal.h"

typedef struct watch_msg {
  cp_shared_msg shared; /* first: free(msg) frees the block */
  Connectplugin__V1__WatchServiceEvent ev;
} watch_msg;

static uint64_t stream_hash(const cp_stream *stream) {
  return (uint64_t)(uintptr_t)stream * 0x9E3779B97F4A7C15ULL;
}

/* The answer watchers of `t` get: the first routable provider. */
static int current(const svc_type *t, reg_entry **e) {
  if (t->routable_count == 0) {
    *e = NULL;
    return CONNECTPLUGIN__V1__SERVICE_STATE__SERVICE_STATE_UNAVAILABLE;
  }
  *e = t->routable[0];
  return (*e)->owner->health == CP_PLUGIN_HEALTH_DEGRADED
             ? CONNECTPLUGIN__V1__SERVICE_STATE__SERVICE_STATE_DEGRADED
             : CONNECTPLUGIN__V1__SERVICE_STATE__SERVICE_STATE_AVAILABLE;
}

/* Equal for equal answers, never 0 (registration IDs are random). */
static uint64_t answer_key(int state, const reg_entry *e) {
  return e != NULL ? reg_entry_id(e) * 4 + (uint64_t)state : (uint64_t)state;
}

/* One block: the shared header, the event, its endpoint, the type name. */
static cp_shared_msg *build_event(const svc_type *t, int state,
                                  const reg_entry *e) {
  size_t head = (sizeof(watch_msg) + 15) & ~(size_t)15;
  size_t size = head + (e != NULL ? cpi_ep_bytes(e) : 0) + t->name_len + 1;
  watch_msg *m = malloc(size);
  if (m == NULL) {
    return NULL;
  }
  connectplugin__v1__watch_service_event__init(&m->ev);
  char *name = (char *)m + size - t->name_len - 1;
  memcpy(name, t->name, t->name_len + 1);
  m->ev.service_type = name;
  m->ev.state = (Connectplugin__V1__ServiceState)state;
  if (e != NULL) {
    m->ev.endpoint = cpi_ep_build((char *)m + head, e);
  }
  if (cpi_shared_msg_init(&m->shared, &m->ev.base, answer_key(state, e)) != 0) {
    free(m);
    return NULL;
  }
  return &m->shared;
}

void cpi_watch_announce(cp_registry *reg, svc_type *t) {
  reg_entry *e = NULL;
  int state = current(t, &e);
  uint64_t id = e != NULL ? reg_entry_id(e) : 0;
  if (t->announced && t->last_state == state && t->last_reg_id == id) {
    return;
  }
  if (t->watchers == NULL) {
    t->announced = true;
    t->last_state = state;
    t->last_reg_id = id;
    return;
  }
  cp_shared_msg *m = build_event(t, state, e);
  if (m == NULL) {
    /* Left unannounced: the next write of this type tries again. */
    cp_log(CP_LOG_ERROR, "watch event dropped: out of memory", "service_type",
           t->name, CP_LOG_END);
    return;
  }
  t->announced = true;
  t->last_state = state;
  t->last_reg_id = id;
  for (reg_watcher *w = t->watchers; w != NULL; w = w->type_next) {
    cpi_push_offer(w->push, m);
  }
  cpi_shared_msg_unref(m);
}

void cpi_watch_unlink(cp_registry *reg, reg_watcher *w, cp_status_code code,
                      const char *message) {
  svc_type *t = w->type;
  if (w->type_prev != NULL) {
    w->type_prev->type_next = w->type_next;
  } else {
    t->watchers = w->type_next;
  }
  if (w->type_next != NULL) {
    w->type_next->type_prev = w->type_prev;
  }
  t->watcher_count--;
  cpi_reg_mark_dirty(reg, t, false); /* the commit frees it if now unused */
  rt_entry *rt = w->owner;
  for (reg_watcher **link = &rt->watchers; *link != NULL;
       link = &(*link)->owner_next) {
    if (*link == w) {
      *link = w->owner_next;
      break;
    }
  }
  rt->watcher_count--;
  cpi_htab_remove(&reg->streams, &w->node);
  reg->watcher_count--;
  w->end_code = code;
  w->end_message = message;
  w->gone_next = reg->gone;
  reg->gone = w;
}

void cpi_watch_end(reg_watcher *list) {
  while (list != NULL) {
    reg_watcher *next = list->gone_next;
    cpi_push_close(list->push, list->end_code, list->end_message);
    cpi_push_unref(list->push);
    free(list);
    list = next;
  }
}

static reg_watcher *find_stream(const cp_registry *reg,
                                const cp_stream *stream) {
  uint64_t h = stream_hash(stream);
  for (cp_hnode *n = cpi_htab_chain(&reg->streams, h); n != NULL; n = n->next) {
    reg_watcher *w = CP_HNODE_ITEM(n, reg_watcher, node);
    if (cpi_push_stream(w->push) == stream) {
      return w;
    }
  }
  return NULL;
}

/* The client went away (or a send failed): unlink the watcher if it is
 * still linked. Looked up by stream, so a stale callback finds nothing. */
void cpi_watch_stream_done(cp_stream *stream, void *user) {
  cp_registry *reg = user;
  cpi_rwshard_wrlock(&reg->lock);
  reg_watcher *w = find_stream(reg, stream);
  if (w != NULL) {
    rt_entry *rt = w->owner;
    cpi_watch_unlink(reg, w, CP_STATUS_CANCELLED, "watch ended");
    cpi_reg_runtime_maybe_free(reg, rt);
  }
  cpi_reg_commit_unlock(reg);
}

static void on_push_closed(cp_push *push, cp_stream *stream, void *user) {
  (void)push;
  cpi_watch_stream_done(stream, user);
}

/* With the write lock held: a cap the new watcher would exceed, or NULL. */
static const char *over_cap(const cp_registry *reg, const rt_entry *rt) {
  if (reg->watcher_count >= reg->max_watchers) {
    return "too many watchers";
  }
  if (rt != NULL && rt->watcher_count >= reg->max_watchers_per_runtime) {
    return "too many watchers for this runtime";
  }
  return NULL;
}

static void link_watcher(cp_registry *reg, reg_watcher *w, svc_type *t,
                         rt_entry *rt) {
  w->type = t;
  w->owner = rt;
  w->type_next = t->watchers;
  if (t->watchers != NULL) {
    t->watchers->type_prev = w;
  }
  t->watchers = w;
  t->watcher_count++;
  w->owner_next = rt->watchers;
  rt->watchers = w;
  rt->watcher_count++;
  w->node.hash = stream_hash(cpi_push_stream(w->push));
  cpi_htab_insert(&reg->streams, &w->node);
  reg->watcher_count++;
}

/* With the write lock held: the watcher's first event, the type's current
 * answer. */
static bool offer_initial(svc_type *t, reg_watcher *w) {
  reg_entry *e = NULL;
  int state = current(t, &e);
  cp_shared_msg *m = build_event(t, state, e);
  if (m == NULL) {
    return false;
  }
  cpi_push_offer(w->push, m);
  cpi_shared_msg_unref(m);
  return true;
}

cp_status_code cpi_watch_start(cp_registry *reg, cp_call *call,
                               const char *service_type, const char *owner,
                               cp_stream *stream) {
  reg_watcher *w = calloc(1, sizeof *w);
  if (w == NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  /* Set before the watcher is visible: a stream that died already finds
   * nothing to unlink, and the first send then reports it closed. */
  cp_stream_on_done(stream, cpi_watch_stream_done, reg);
  cpi_rwshard_wrlock(&reg->lock);
  rt_entry *rt = cpi_reg_find_runtime(reg, owner);
  const char *why = over_cap(reg, rt);
  svc_type *t = NULL;
  if (why == NULL) {
    t = cpi_reg_get_type(reg, service_type);
    rt = t != NULL ? cpi_reg_get_runtime(reg, owner) : NULL;
    w->push = rt != NULL
                  ? cpi_push_create(reg->hub, stream, on_push_closed, reg)
                  : NULL;
  }
  if (why == NULL && w->push != NULL) {
    link_watcher(reg, w, t, rt);
    if (!offer_initial(t, w)) {
      /* Unlinked and ended by the commit, so the handler keeps it open. */
      cpi_watch_unlink(reg, w, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    cpi_reg_commit_unlock(reg);
    return CP_STATUS_OK; /* the push keeps the stream */
  }
  if (t != NULL) {
    cpi_reg_mark_dirty(reg, t, false); /* freed by the commit if unused */
  }
  if (rt != NULL) {
    cpi_reg_runtime_maybe_free(reg, rt);
  }
  cpi_reg_commit_unlock(reg);
  free(w);
  if (why != NULL) {
    return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "%s", why);
  }
  return cp_call_error(call, CP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
}
