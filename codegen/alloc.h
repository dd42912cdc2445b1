/* protoc-gen-cplugin — memory: allocation that never returns NULL, and an
 * arena that frees everything at once.
 *
 * A code generator has no useful way to carry on without memory, so every
 * allocation here prints "out of memory" and exits with status 1 on failure.
 * That keeps the rest of the generator free of NULL checks.
 */
#ifndef CPLUGIN_CODEGEN_ALLOC_H
#define CPLUGIN_CODEGEN_ALLOC_H

#include <stddef.h>

/* Prints "out of memory" to stderr and exits with status 1. */
_Noreturn void cg_out_of_memory(void);

/* malloc/realloc that exit(1) on failure. cg_xrealloc(NULL, n) allocates. */
void *cg_xmalloc(size_t size);
void *cg_xrealloc(void *ptr, size_t size);

/* cg_xmalloc of `count` elements of `size` bytes; a product that overflows
 * is treated as out of memory. */
void *cg_xmalloc_array(size_t count, size_t size);

/* An arena owns every block allocated from it until cg_arena_free. */
typedef struct cg_arena_node cg_arena_node;

typedef struct cg_arena {
  cg_arena_node *head;
} cg_arena;

void cg_arena_init(cg_arena *arena);

/* Frees every block of `arena`; the arena may be reused afterwards. */
void cg_arena_free(cg_arena *arena);

/* Returns `size` zeroed bytes, aligned for any type, owned by `arena`. */
void *cg_arena_alloc(cg_arena *arena, size_t size);

/* cg_arena_alloc of `count` elements of `size` bytes; a product that
 * overflows is treated as out of memory. */
void *cg_arena_alloc_array(cg_arena *arena, size_t count, size_t size);

/* Copies the NUL-terminated string `s` (or its first `len` bytes, which must
 * not contain NUL) into `arena`. */
char *cg_arena_strdup(cg_arena *arena, const char *s);
char *cg_arena_strndup(cg_arena *arena, const char *s, size_t len);

#endif /* CPLUGIN_CODEGEN_ALLOC_H */
