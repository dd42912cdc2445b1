/* A read-mostly lock (internal): one reader-writer lock per shard, each on
 * its own cache line. A reader locks only the shard of its thread, so
 * readers on different threads never write the same cache line and never
 * wait for each other; a writer locks every shard in order. Writes (a
 * registration, a health report) are rare next to lookups, which is the
 * trade this makes.
 *
 * The shards prefer writers, so a steady stream of readers cannot starve a
 * writer. Not recursive: a thread must not take the lock twice. */
#ifndef CPLUGIN_CORE_RWSHARD_H
#define CPLUGIN_CORE_RWSHARD_H

#include <pthread.h>
#include <stddef.h>

enum { CP_RWSHARD_SHARDS = 16 };

typedef struct cp_rwshard_slot {
  pthread_rwlock_t lock;
} __attribute__((aligned(64))) cp_rwshard_slot;

typedef struct cp_rwshard {
  cp_rwshard_slot slots[CP_RWSHARD_SHARDS];
} cp_rwshard;

/* Returns 0 or CP_ENOMEM. */
int cpi_rwshard_init(cp_rwshard *l);
void cpi_rwshard_destroy(cp_rwshard *l);

/* Locks the calling thread's shard for reading; pass the returned shard
 * to cpi_rwshard_rdunlock. */
size_t cpi_rwshard_rdlock(cp_rwshard *l);
void cpi_rwshard_rdunlock(cp_rwshard *l, size_t shard);

void cpi_rwshard_wrlock(cp_rwshard *l);
void cpi_rwshard_wrunlock(cp_rwshard *l);

#endif /* CPLUGIN_CORE_RWSHARD_H */
