/* A header for tools/check_config_doc.py's self-test: the C the parser has
 * to read. typedef struct fx_commented_options { int not_a_field; }
 * fx_commented_options; (inside a comment: not a struct) */
#ifndef FX_FIXTURE_H
#define FX_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#define FX_NAME_MAX 16
#define FX_MULTI_LINE_MACRO(a, b)   \
  typedef struct fx_macro_options { \
    int hidden;                     \
  } fx_macro_options;

typedef struct fx_opaque fx_opaque; /* opaque: no body */

typedef void (*fx_callback_fn)(const char *what, void *user);

/* Embedded by value below; not an options struct, so its section is
 * optional. */
typedef struct fx_limits {
  size_t total;
  int64_t stall_ms;
} fx_limits;

typedef struct fx_server_options {
  unsigned threads;                              /* 0 = "auto; see } below" */
  size_t max_message_bytes, max_metadata_bytes;  // two declarators
  const char *const *names;
  size_t name_count;
  char label[FX_NAME_MAX + 1];
  int (*compare)(const void *a, const void *b, size_t n);
  void (*hooks[2])(int phase);
  fx_callback_fn on_event;
  struct fx_opaque *opaque;
  unsigned verbose : 1, quiet : 1;
  uint32_t : 6;
  fx_limits limits;
  struct {
    int64_t interval_ms;
    uint32_t misses;
  } liveness;
  union {
    const char *path;
    const char *pem;
  };
  enum { FX_MODE_A, FX_MODE_B } mode;
#ifdef FX_EXTRA
  bool extra;
#endif
  const char *quote; /* "a ; b" */
} fx_server_options;

typedef struct {
  int64_t ttl_ms;
} fx_tagless_options;

#endif /* FX_FIXTURE_H */
