/* Cutting a byte stream into lines of bounded length (internal). A line
 * longer than PROC_LINE_MAX_BYTES comes out in pieces, each cut before an
 * incomplete UTF-8 sequence so that a character is never split. The state is
 * one fixed buffer: memory does not depend on what the stream holds. */
#ifndef CPLUGIN_LAUNCH_LINE_SPLITTER_H
#define CPLUGIN_LAUNCH_LINE_SPLITTER_H

#include <stdbool.h>
#include <stddef.h>

#include "launch/process.h"

typedef struct proc_piece {
  const char *data; /* without the newline; valid during the callback */
  size_t len;       /* <= PROC_LINE_MAX_BYTES */
  bool line_start;  /* the piece starts a line */
  bool line_end;    /* it ends one (a newline, or the end of the stream) */
} proc_piece;

typedef void (*proc_piece_fn)(const proc_piece *piece, void *user);

typedef struct proc_line_splitter {
  char buf[PROC_LINE_MAX_BYTES];
  size_t len;
  bool mid_line; /* part of the current line has been emitted already */
} proc_line_splitter;

void cpi_proc_line_splitter_init(proc_line_splitter *s);

/* Emits every piece that data[0..n) completes, in order. */
void cpi_proc_line_splitter_feed(proc_line_splitter *s, const char *data,
                                 size_t n, proc_piece_fn fn, void *user);

/* End of stream: emits what is buffered (if anything) as a line's end. */
void cpi_proc_line_splitter_finish(proc_line_splitter *s, proc_piece_fn fn,
                                   void *user);

#endif /* CPLUGIN_LAUNCH_LINE_SPLITTER_H */
