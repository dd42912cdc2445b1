/* A read-mostly lock: per-thread reader shards, writers take them all. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#endif
#include "core/rwshard.h"

#include <stdatomic.h>

#include "cplugin/errors.h"

/* Threads get shards round-robin on first use, so up to CP_RWSHARD_SHARDS
 * threads never share one. */
static atomic_uint next_shard;
static _Thread_local unsigned my_shard = ~0u;

static size_t shard_of_thread(void) {
  if (my_shard == ~0u) {
    my_shard = atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed) %
               CP_RWSHARD_SHARDS;
  }
  return my_shard;
}

int cpi_rwshard_init(cp_rwshard *l) {
  pthread_rwlockattr_t attr;
  if (pthread_rwlockattr_init(&attr) != 0) {
    return CP_ENOMEM;
  }
  pthread_rwlockattr_setkind_np(&attr,
                                PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  for (size_t i = 0; i < CP_RWSHARD_SHARDS; i++) {
    if (pthread_rwlock_init(&l->slots[i].lock, &attr) != 0) {
      while (i-- > 0) {
        pthread_rwlock_destroy(&l->slots[i].lock);
      }
      pthread_rwlockattr_destroy(&attr);
      return CP_ENOMEM;
    }
  }
  pthread_rwlockattr_destroy(&attr);
  return 0;
}

void cpi_rwshard_destroy(cp_rwshard *l) {
  for (size_t i = 0; i < CP_RWSHARD_SHARDS; i++) {
    pthread_rwlock_destroy(&l->slots[i].lock);
  }
}

size_t cpi_rwshard_rdlock(cp_rwshard *l) {
  size_t s = shard_of_thread();
  pthread_rwlock_rdlock(&l->slots[s].lock);
  return s;
}

void cpi_rwshard_rdunlock(cp_rwshard *l, size_t shard) {
  pthread_rwlock_unlock(&l->slots[shard].lock);
}

void cpi_rwshard_wrlock(cp_rwshard *l) {
  for (size_t i = 0; i < CP_RWSHARD_SHARDS; i++) {
    pthread_rwlock_wrlock(&l->slots[i].lock);
  }
}

void cpi_rwshard_wrunlock(cp_rwshard *l) {
  for (size_t i = CP_RWSHARD_SHARDS; i-- > 0;) {
    pthread_rwlock_unlock(&l->slots[i].lock);
  }
}
