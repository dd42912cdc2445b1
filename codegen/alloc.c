/* protoc-gen-cplugin — allocation helpers and the arena. */
#include "alloc.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each arena block is one malloc: a link followed by the payload. The
 * flexible array of max_align_t gives the payload the strictest alignment. */
struct cg_arena_node {
  cg_arena_node *next;
  max_align_t payload[];
};

_Noreturn void cg_out_of_memory(void) {
  fputs("protoc-gen-cplugin: out of memory\n", stderr);
  exit(1);
}

void *cg_xmalloc(size_t size) {
  void *p = malloc(size == 0 ? 1 : size);
  if (p == NULL) {
    cg_out_of_memory();
  }
  return p;
}

void *cg_xrealloc(void *ptr, size_t size) {
  void *p = realloc(ptr, size == 0 ? 1 : size);
  if (p == NULL) {
    cg_out_of_memory();
  }
  return p;
}

/* count * size, or an out-of-memory exit when it does not fit a size_t. */
static size_t cg_array_bytes(size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size) {
    cg_out_of_memory();
  }
  return count * size;
}

void *cg_xmalloc_array(size_t count, size_t size) {
  return cg_xmalloc(cg_array_bytes(count, size));
}

void cg_arena_init(cg_arena *arena) {
  arena->head = NULL;
}

void cg_arena_free(cg_arena *arena) {
  cg_arena_node *node = arena->head;
  while (node != NULL) {
    cg_arena_node *next = node->next;
    free(node);
    node = next;
  }
  arena->head = NULL;
}

void *cg_arena_alloc(cg_arena *arena, size_t size) {
  if (size > SIZE_MAX - sizeof(cg_arena_node)) {
    cg_out_of_memory();
  }
  cg_arena_node *node = cg_xmalloc(sizeof(cg_arena_node) + size);
  memset(node->payload, 0, size);
  node->next = arena->head;
  arena->head = node;
  return node->payload;
}

void *cg_arena_alloc_array(cg_arena *arena, size_t count, size_t size) {
  return cg_arena_alloc(arena, cg_array_bytes(count, size));
}

char *cg_arena_strndup(cg_arena *arena, const char *s, size_t len) {
  char *copy = cg_arena_alloc(arena, len + 1);
  memcpy(copy, s, len);
  copy[len] = '\0';
  return copy;
}

char *cg_arena_strdup(cg_arena *arena, const char *s) {
  return cg_arena_strndup(arena, s, strlen(s));
}
