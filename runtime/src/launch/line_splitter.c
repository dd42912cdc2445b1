/* Bounded line splitting for captured output. */
#include "launch/line_splitter.h"

#include <string.h>

void cpi_proc_line_splitter_init(proc_line_splitter *s) {
  s->len = 0;
  s->mid_line = false;
}

static void emit(proc_line_splitter *s, size_t len, bool line_end,
                 proc_piece_fn fn, void *user) {
  proc_piece piece = {s->buf, len, !s->mid_line, line_end};
  fn(&piece, user);
  s->mid_line = !line_end;
}

/* How many bytes at the end of buf[0..len) begin a UTF-8 sequence that is
 * not complete yet (0..3): they wait for the next piece. */
static size_t incomplete_tail(const char *buf, size_t len) {
  for (size_t back = 1; back <= 3 && back <= len; back++) {
    unsigned char c = (unsigned char)buf[len - back];
    if ((c & 0xC0) == 0x80) {
      continue; /* a continuation byte: look further back for the lead */
    }
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

void cpi_proc_line_splitter_feed(proc_line_splitter *s, const char *data,
                                 size_t n, proc_piece_fn fn, void *user) {
  while (n > 0) {
    const char *nl = memchr(data, '\n', n);
    size_t take = nl != NULL ? (size_t)(nl - data) : n;
    size_t room = sizeof s->buf - s->len;
    if (take <= room) {
      memcpy(s->buf + s->len, data, take);
      s->len += take;
      if (nl == NULL) {
        return; /* wait for the rest of the line */
      }
      emit(s, s->len, true, fn, user);
      s->len = 0;
      data += take + 1;
      n -= take + 1;
      continue;
    }
    /* The line does not fit: fill the buffer and cut. */
    memcpy(s->buf + s->len, data, room);
    data += room;
    n -= room;
    size_t keep = incomplete_tail(s->buf, sizeof s->buf);
    emit(s, sizeof s->buf - keep, false, fn, user);
    memmove(s->buf, s->buf + sizeof s->buf - keep, keep);
    s->len = keep;
  }
}

void cpi_proc_line_splitter_finish(proc_line_splitter *s, proc_piece_fn fn,
                                   void *user) {
  if (s->len > 0 || s->mid_line) {
    emit(s, s->len, true, fn, user);
  }
  s->len = 0;
  s->mid_line = false;
}
