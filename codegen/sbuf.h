/* protoc-gen-cplugin — a growable string.
 *
 * The string is always NUL-terminated once anything was written; growth
 * failures exit the process (see alloc.h), so no function here fails.
 */
#ifndef CPLUGIN_CODEGEN_SBUF_H
#define CPLUGIN_CODEGEN_SBUF_H

#include <stddef.h>

#include "alloc.h"

typedef struct cg_sbuf {
  char *data; /* NULL until the first write */
  size_t len; /* bytes before the terminating NUL */
  size_t cap; /* bytes allocated */
} cg_sbuf;

void cg_sbuf_init(cg_sbuf *sb);

/* Frees the storage; the buffer is empty (and usable) afterwards. */
void cg_sbuf_free(cg_sbuf *sb);

/* Empties the buffer, keeping its storage. */
void cg_sbuf_reset(cg_sbuf *sb);

void cg_sbuf_putc(cg_sbuf *sb, char c);
void cg_sbuf_puts(cg_sbuf *sb, const char *s);
void cg_sbuf_putn(cg_sbuf *sb, const char *s, size_t n);

void cg_sbuf_printf(cg_sbuf *sb, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The contents; "" for an empty buffer. Valid until the next write. */
const char *cg_sbuf_str(const cg_sbuf *sb);

/* Bytes written since the last '\n' (the current output column). */
size_t cg_sbuf_column(const cg_sbuf *sb);

/* Copies the contents into `arena`. */
char *cg_sbuf_to_arena(const cg_sbuf *sb, cg_arena *arena);

/* Formats into a new string owned by `arena`. */
char *cg_arena_printf(cg_arena *arena, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif /* CPLUGIN_CODEGEN_SBUF_H */
