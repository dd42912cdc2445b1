/* protoc-gen-cplugin — C block comments. */
#include "comment.h"

#include <stdbool.h>
#include <string.h>

void cg_comment_init(cg_comment *c) {
  cg_sbuf_init(&c->lines);
  c->count = 0;
}

void cg_comment_free(cg_comment *c) {
  cg_sbuf_free(&c->lines);
  c->count = 0;
}

/* True for characters that end a trigraph after "??". */
static bool cg_is_trigraph_end(char ch) {
  return ch != '\0' && strchr("=/'()!<>-", ch) != NULL;
}

/* Appends `ch` to a line being built, keeping the line safe inside a block
 * comment: a space separates "/" and "*" in either order and breaks "??x"
 * trigraphs; control characters become spaces. */
static void cg_put_safe(cg_sbuf *line, char ch) {
  unsigned char u = (unsigned char)ch;
  if (u < 0x20 || u == 0x7f) {
    ch = ' ';
  }
  size_t n = line->len;
  char prev = ' ';
  char prev2 = ' ';
  if (n > 0) {
    prev = line->data[n - 1];
  }
  if (n > 1) {
    prev2 = line->data[n - 2];
  }
  bool splits_comment =
      (prev == '/' && ch == '*') || (prev == '*' && ch == '/');
  bool ends_trigraph = prev == '?' && prev2 == '?' && cg_is_trigraph_end(ch);
  if (splits_comment || ends_trigraph) {
    cg_sbuf_putc(line, ' ');
  }
  cg_sbuf_putc(line, ch);
}

/* Adds `len` bytes of `text` as one sanitised line without trailing space. */
static void cg_comment_add_span(cg_comment *c, const char *text, size_t len) {
  cg_sbuf line;
  cg_sbuf_init(&line);
  for (size_t i = 0; i < len; i++) {
    if (text[i] != '\r') {
      cg_put_safe(&line, text[i]);
    }
  }
  while (line.len > 0 &&
         (line.data[line.len - 1] == ' ' || line.data[line.len - 1] == '\t')) {
    line.len--;
  }
  cg_sbuf_putn(&c->lines, cg_sbuf_str(&line), line.len);
  cg_sbuf_putc(&c->lines, '\n');
  c->count++;
  cg_sbuf_free(&line);
}

void cg_comment_add_line(cg_comment *c, const char *line) {
  cg_comment_add_span(c, line, strlen(line));
}

void cg_comment_add_wrapped(cg_comment *c, const char *text, size_t width) {
  const char *line = text;
  while (*line == ' ') {
    line++;
  }
  while (*line != '\0') {
    /* The line ends before the last space that keeps it within `width`, or
     * after the first word when even that is wider. */
    const char *end = line;
    const char *p = line;
    while (*p != '\0') {
      const char *word_end = strchr(p, ' ');
      if (word_end == NULL) {
        word_end = p + strlen(p);
      }
      if (end != line && (size_t)(word_end - line) > width) {
        break;
      }
      end = word_end;
      p = *word_end == ' ' ? word_end + 1 : word_end;
    }
    cg_comment_add_span(c, line, (size_t)(end - line));
    line = end;
    while (*line == ' ') {
      line++;
    }
  }
}

void cg_comment_add_break(cg_comment *c) {
  if (c->count > 0) {
    cg_comment_add_span(c, "", 0);
  }
}

/* True when `len` bytes of `s` are all white space. */
static bool cg_is_blank(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') {
      return false;
    }
  }
  return true;
}

void cg_comment_add_proto(cg_comment *c, const char *text) {
  if (text == NULL) {
    return;
  }
  int pending_blank = 0; /* blank lines are added only before more text */
  bool started = false;
  const char *p = text;
  while (*p != '\0') {
    const char *nl = strchr(p, '\n');
    size_t len = nl == NULL ? strlen(p) : (size_t)(nl - p);
    if (cg_is_blank(p, len)) {
      pending_blank += started ? 1 : 0;
    } else {
      for (; pending_blank > 0; pending_blank--) {
        cg_comment_add_span(c, "", 0);
      }
      size_t skip = p[0] == ' ' ? 1 : 0;
      cg_comment_add_span(c, p + skip, len - skip);
      started = true;
    }
    p += len;
    if (*p == '\n') {
      p++;
    }
  }
}

void cg_comment_emit(const cg_comment *c, cg_sbuf *out, const char *indent) {
  if (c->count == 0) {
    return;
  }
  const char *p = cg_sbuf_str(&c->lines);
  for (int i = 0; i < c->count; i++) {
    const char *nl = strchr(p, '\n');
    size_t len = (size_t)(nl - p);
    cg_sbuf_puts(out, indent);
    cg_sbuf_puts(out, i == 0 ? "/*" : " *");
    if (len > 0) {
      cg_sbuf_putc(out, ' ');
      cg_sbuf_putn(out, p, len);
    }
    if (i == c->count - 1) {
      cg_sbuf_puts(out, " */");
    }
    cg_sbuf_putc(out, '\n');
    p = nl + 1;
  }
}
