/* Worker pools for blocking handlers: configuration (cp_server_run_blocking),
 * the hand-off from a completion-queue thread to a pool thread, and the
 * pools' part of shutdown. The threads and the queue are core/worker_pool. */
#include "transport/blocking_dispatch.h"

#include <stdlib.h>
#include <string.h>

#include "core/worker_pool.h"
#include "cplugin/errors.h"
#include "transport/server_reply.h"
#include "transport/server_testing.h"

enum {
  DEFAULT_POOL_THREADS = 8,
  DEFAULT_POOL_QUEUE = 64,
  MAX_POOL_THREADS = 1024,
  MAX_POOL_QUEUE = 1 << 20
};

void cp_worker_pool_options_init(cp_worker_pool_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->threads = DEFAULT_POOL_THREADS;
  opts->queue_length = DEFAULT_POOL_QUEUE;
}

static bool pool_options_valid(const cp_worker_pool_options *o) {
  return o->threads > 0 && o->threads <= MAX_POOL_THREADS &&
         o->queue_length <= MAX_POOL_QUEUE;
}

int cp_server_run_blocking(cp_server *server, const char *path_prefix,
                           const cp_worker_pool_options *opts) {
  cp_worker_pool_options o;
  if (opts != NULL) {
    o = *opts;
  } else {
    cp_worker_pool_options_init(&o);
  }
  if (server == NULL || path_prefix == NULL || path_prefix[0] != '/' ||
      !pool_options_valid(&o)) {
    return CP_EINVAL;
  }
  if (server->state != CP_SERVER_CREATED) {
    return CP_ESTATE;
  }
  size_t n = strlen(path_prefix);
  bool matched = false;
  for (size_t i = 0; i < server->method_count && !matched; i++) {
    matched = strncmp(server->methods[i].desc->path, path_prefix, n) == 0;
  }
  if (!matched) {
    return CP_ENOTFOUND;
  }
  cp_blocking_pool *pool = calloc(1, sizeof *pool);
  if (pool == NULL) {
    return CP_ENOMEM;
  }
  pool->opts = o;
  pool->next = server->pools;
  server->pools = pool;
  /* One pool per call: a later call takes the methods it matches over. */
  for (size_t i = 0; i < server->method_count; i++) {
    if (strncmp(server->methods[i].desc->path, path_prefix, n) == 0) {
      server->methods[i].pool = pool;
    }
  }
  return 0;
}

/* Answers `call` with `code` and a message, without its handler. */
static void answer_unrun(cp_call *call, cp_status_code code, const char *why) {
  cpi_call_send_final(call, cp_call_error(call, code, "%s", why), NULL);
}

/* A pool thread runs a call (run true), or the pool was closed with the
 * call still queued (run false, on the closing thread). */
static void run_call(void *job, bool run, void *user) {
  (void)user;
  cp_call *call = job;
  if (!run || atomic_load(&call->server->cancelling)) {
    answer_unrun(call, CP_STATUS_UNAVAILABLE,
                 "server shutting down before a worker ran the call");
  } else if (cp_call_is_cancelled(call)) {
    /* The deadline passed while the call waited: nobody reads the answer. */
    answer_unrun(call, CP_STATUS_DEADLINE_EXCEEDED,
                 "deadline passed before a worker was free");
  } else {
    cpi_serve_by_kind(call);
  }
}

static bool pool_in_use(const cp_server *server, const cp_blocking_pool *p) {
  for (size_t i = 0; i < server->method_count; i++) {
    if (server->methods[i].pool == p) {
      return true;
    }
  }
  return false;
}

int cpi_blocking_pools_start(cp_server *server) {
  for (cp_blocking_pool *p = server->pools; p != NULL; p = p->next) {
    if (p->workers != NULL || !pool_in_use(server, p)) {
      continue;
    }
    if (cpi_worker_pool_new(&p->workers, p->opts.threads, p->opts.queue_length,
                            run_call, NULL) != 0) {
      /* Nothing was served yet: undo so that a later start begins afresh. */
      for (cp_blocking_pool *q = server->pools; q != NULL; q = q->next) {
        cpi_worker_pool_free(q->workers);
        q->workers = NULL;
      }
      return CP_ENOMEM;
    }
  }
  return 0;
}

void cpi_blocking_pools_close(cp_server *server) {
  for (cp_blocking_pool *p = server->pools; p != NULL; p = p->next) {
    if (p->workers != NULL) {
      cpi_worker_pool_close(p->workers);
    }
  }
}

void cpi_blocking_pools_stop(cp_server *server) {
  for (cp_blocking_pool *p = server->pools; p != NULL; p = p->next) {
    if (p->workers != NULL) {
      cpi_worker_pool_join(p->workers);
    }
  }
}

void cpi_blocking_pools_free(cp_server *server) {
  while (server->pools != NULL) {
    cp_blocking_pool *next = server->pools->next;
    cpi_worker_pool_free(server->pools->workers);
    free(server->pools);
    server->pools = next;
  }
}

void cpi_serve_blocking(cp_call *call) {
  int rc = cpi_worker_pool_submit(call->rm->pool->workers, call);
  if (rc == CP_EAGAIN) {
    answer_unrun(call, CP_STATUS_RESOURCE_EXHAUSTED, "worker pool queue full");
  } else if (rc != 0) {
    answer_unrun(call, CP_STATUS_UNAVAILABLE, "server shutting down");
  }
}

static cp_worker_pool *workers_of(cp_server *server, const char *path) {
  for (size_t i = 0; i < server->method_count; i++) {
    const cp_registered_method *rm = &server->methods[i];
    if (strcmp(rm->desc->path, path) == 0) {
      return rm->pool != NULL ? rm->pool->workers : NULL;
    }
  }
  return NULL;
}

bool cpi_server_testing_pool_counts(cp_server *server, const char *path,
                                    size_t *running, size_t *queued) {
  cp_worker_pool *w = workers_of(server, path);
  if (w == NULL) {
    return false;
  }
  cp_worker_pool_counts c = cpi_worker_pool_count(w);
  *running = c.running;
  *queued = c.queued;
  return true;
}
