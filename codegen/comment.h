/* protoc-gen-cplugin — C block comments built from .proto comments and the
 * generator's own text.
 *
 * Comment text comes from the .proto file, so it is sanitised on output: no
 * "/" followed by "*" or "*" followed by "/" (which would end the comment or
 * trigger -Wcomment), no trigraphs (which -Wtrigraphs reports), no control
 * characters. Line breaks are kept; lines are not re-wrapped.
 */
#ifndef CPLUGIN_CODEGEN_COMMENT_H
#define CPLUGIN_CODEGEN_COMMENT_H

#include <stddef.h>

#include "sbuf.h"

typedef struct cg_comment {
  cg_sbuf lines; /* the lines, each terminated by '\n' */
  int count;     /* number of lines */
} cg_comment;

void cg_comment_init(cg_comment *c);
void cg_comment_free(cg_comment *c);

/* Adds the lines of a .proto comment as protoc reports it (each line is the
 * text after "//", usually starting with one space, which is dropped).
 * Trailing white space and leading and trailing blank lines are dropped.
 * NULL or blank text adds nothing. */
void cg_comment_add_proto(cg_comment *c, const char *text);

/* Adds one line of the generator's own text. */
void cg_comment_add_line(cg_comment *c, const char *line);

/* Adds `text` as a paragraph of lines at most `width` columns wide, broken
 * at spaces (a longer word gets a line of its own). */
void cg_comment_add_wrapped(cg_comment *c, const char *text, size_t width);

/* Adds an empty line between paragraphs, unless the comment is empty. */
void cg_comment_add_break(cg_comment *c);

/* Appends the comment to `out` as a block comment whose lines start with
 * `indent`: "/" "* first\n * second *" "/\n". Nothing for an empty comment. */
void cg_comment_emit(const cg_comment *c, cg_sbuf *out, const char *indent);

#endif /* CPLUGIN_CODEGEN_COMMENT_H */
