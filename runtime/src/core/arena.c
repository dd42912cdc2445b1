/* Bump allocation for per-call memory. */
#include "core/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct cp_arena_block {
  cp_arena_block *next;
  size_t size;
  size_t used;
  unsigned char data[] __attribute__((aligned(16)));
};

enum { ARENA_ALIGN = 16, ARENA_MIN_BLOCK = 4096 };

static size_t align_up(size_t n) {
  return (n + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1);
}

void cpi_arena_init(cp_arena *arena) {
  arena->head = NULL;
  arena->inline_used = 0;
}

void *cpi_arena_alloc(cp_arena *arena, size_t size) {
  if (size > SIZE_MAX / 2) {
    return NULL;
  }
  size_t need = align_up(size == 0 ? 1 : size);
  if (sizeof arena->inline_buf - arena->inline_used >= need) {
    void *p = arena->inline_buf + arena->inline_used;
    arena->inline_used += need;
    memset(p, 0, size);
    return p;
  }
  cp_arena_block *b = arena->head;
  if (b == NULL || b->size - b->used < need) {
    size_t block_size = need > ARENA_MIN_BLOCK ? need : ARENA_MIN_BLOCK;
    b = malloc(sizeof *b + block_size);
    if (b == NULL) {
      return NULL;
    }
    b->size = block_size;
    b->used = 0;
    b->next = arena->head;
    arena->head = b;
  }
  void *p = b->data + b->used;
  b->used += need;
  memset(p, 0, size);
  return p;
}

char *cpi_arena_strndup(cp_arena *arena, const char *s, size_t len) {
  if (len == SIZE_MAX) {
    return NULL;
  }
  char *copy = cpi_arena_alloc(arena, len + 1);
  if (copy != NULL) {
    memcpy(copy, s, len);
    copy[len] = '\0';
  }
  return copy;
}

void cpi_arena_release(cp_arena *arena) {
  cp_arena_block *b = arena->head;
  while (b != NULL) {
    cp_arena_block *next = b->next;
    free(b);
    b = next;
  }
  arena->head = NULL;
  arena->inline_used = 0;
}
