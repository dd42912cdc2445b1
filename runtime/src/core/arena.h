/* A bump allocator for memory that lives exactly as long as one call
 * (internal). Not thread-safe: one call is served by one thread at a time. */
#ifndef CPLUGIN_CORE_ARENA_H
#define CPLUGIN_CORE_ARENA_H

#include <stddef.h>

typedef struct cp_arena_block cp_arena_block;

typedef struct cp_arena {
  cp_arena_block *head;
  /* Inline first block: most calls need a few hundred bytes at most, and
   * keeping them inside the call object saves an allocation per call. */
  size_t inline_used;
  unsigned char inline_buf[512] __attribute__((aligned(16)));
} cp_arena;

void cpi_arena_init(cp_arena *arena);

/* Returns `size` zeroed bytes aligned to 16, or NULL when out of memory. */
void *cpi_arena_alloc(cp_arena *arena, size_t size);

/* Copies `len` bytes and a terminating NUL. */
char *cpi_arena_strndup(cp_arena *arena, const char *s, size_t len);

/* Frees every block; the arena may be reused after cpi_arena_init. */
void cpi_arena_release(cp_arena *arena);

#endif /* CPLUGIN_CORE_ARENA_H */
