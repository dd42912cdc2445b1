/* Logging: one line per record, JSON (go-plugin's keys) or plain text. */
#include "cplugin/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum { LINE_MAX_BYTES = 4096 };

static atomic_int log_level = CP_LOG_INFO;
static atomic_int log_format = CP_LOG_FORMAT_TEXT;

/* The sink and its argument change together, so they are read as a pair
 * under a lock; the lock is not on the path of records that are filtered. */
static pthread_mutex_t sink_mu = PTHREAD_MUTEX_INITIALIZER;
static cp_log_sink_fn sink_fn;
static void *sink_user;

static const char *const level_names[] = {"trace", "debug", "info",
                                          "warn",  "error", "off"};

void cp_log_set_level(cp_log_level level) {
  if (level >= CP_LOG_TRACE && level <= CP_LOG_OFF) {
    atomic_store(&log_level, level);
  }
}

cp_log_level cp_log_get_level(void) {
  return (cp_log_level)atomic_load(&log_level);
}

void cp_log_set_format(cp_log_format format) {
  if (format == CP_LOG_FORMAT_TEXT || format == CP_LOG_FORMAT_JSON) {
    atomic_store(&log_format, format);
  }
}

void cp_log_set_sink(cp_log_sink_fn fn, void *user) {
  pthread_mutex_lock(&sink_mu);
  sink_fn = fn;
  sink_user = user;
  pthread_mutex_unlock(&sink_mu);
}

void cp_log_configure_from_env(void) {
  const char *level = getenv("CPLUGIN_LOG_LEVEL");
  if (level != NULL) {
    for (int i = CP_LOG_TRACE; i <= CP_LOG_OFF; i++) {
      if (strcasecmp(level, level_names[i]) == 0) {
        cp_log_set_level((cp_log_level)i);
      }
    }
  }
  const char *format = getenv("CPLUGIN_LOG_FORMAT");
  if (format != NULL) {
    if (strcasecmp(format, "json") == 0) {
      cp_log_set_format(CP_LOG_FORMAT_JSON);
    } else if (strcasecmp(format, "text") == 0) {
      cp_log_set_format(CP_LOG_FORMAT_TEXT);
    }
  }
}

int cp_log_enabled(cp_log_level level) {
  return level < CP_LOG_OFF && (int)level >= atomic_load(&log_level);
}

/* A bounded line buffer: appends stop (silently) at the limit. */
typedef struct line_buf {
  char data[LINE_MAX_BYTES];
  size_t len;
  bool truncated;
} line_buf;

/* Two bytes stay free: the closing brace of a JSON record and the newline. */
static void put_bytes(line_buf *b, const char *s, size_t n) {
  size_t room = sizeof b->data - 2 - b->len;
  if (n > room) {
    n = room;
    b->truncated = true;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
}

static void put_str(line_buf *b, const char *s) {
  put_bytes(b, s, strlen(s));
}

/* JSON string body: escapes quotes, backslashes and control bytes; reads at
 * most `max_in` bytes of `s`. */
static void put_json_escaped_n(line_buf *b, const char *s, size_t max_in) {
  const unsigned char *end = (const unsigned char *)s + strnlen(s, max_in);
  for (const unsigned char *p = (const unsigned char *)s; p < end; p++) {
    char esc[8];
    switch (*p) {
      case '"':
        put_str(b, "\\\"");
        break;
      case '\\':
        put_str(b, "\\\\");
        break;
      case '\n':
        put_str(b, "\\n");
        break;
      case '\r':
        put_str(b, "\\r");
        break;
      case '\t':
        put_str(b, "\\t");
        break;
      default:
        if (*p < 0x20) {
          snprintf(esc, sizeof esc, "\\u%04x", *p);
          put_str(b, esc);
        } else {
          put_bytes(b, (const char *)p, 1);
        }
    }
  }
}

static void put_json_escaped(line_buf *b, const char *s) {
  put_json_escaped_n(b, s, LINE_MAX_BYTES);
}

/* Plain text: control bytes become '?', so one record stays one line. */
static void put_text_sanitised(line_buf *b, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
    const char *c = *p < 0x20 ? "?" : (const char *)p;
    put_bytes(b, c, 1);
  }
}

static void put_timestamp(line_buf *b) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char out[80];
  snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, ts.tv_nsec / 1000);
  put_str(b, out);
}

static void format_json(line_buf *b, cp_log_level level, const char *message,
                        va_list ap) {
  put_str(b, "{\"@level\":\"");
  put_str(b, level_names[level]);
  put_str(b, "\",\"@message\":\"");
  /* Bounded so that the header always fits: escaping at most sextuples. */
  put_json_escaped_n(b, message, 512);
  put_str(b, "\",\"@timestamp\":\"");
  put_timestamp(b);
  put_str(b, "\"");
  size_t complete = b->len;
  for (;;) {
    /* clang-tidy 14 misreads the caller's va_list (see status.c). */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    const char *key = va_arg(ap, const char *);
    if (key == NULL) {
      break;
    }
    const char *value = va_arg(ap, const char *);
    put_str(b, ",\"");
    put_json_escaped(b, key);
    put_str(b, "\":\"");
    put_json_escaped(b, value != NULL ? value : "");
    put_str(b, "\"");
    if (b->truncated) {
      break;
    }
    complete = b->len;
  }
  if (b->truncated) {
    /* Drop the field that did not fit, so the record stays valid JSON. */
    b->len = complete;
  }
  b->data[b->len++] = '}';
}

static void format_text(line_buf *b, cp_log_level level, const char *message,
                        va_list ap) {
  static const char *const upper[] = {"TRACE", "DEBUG", "INFO",
                                      "WARN",  "ERROR", "OFF"};
  put_timestamp(b);
  put_str(b, " [");
  put_str(b, upper[level]);
  put_str(b, "] ");
  put_text_sanitised(b, message);
  bool first = true;
  for (;;) {
    /* clang-tidy 14 misreads the caller's va_list (see status.c). */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    const char *key = va_arg(ap, const char *);
    if (key == NULL) {
      break;
    }
    const char *value = va_arg(ap, const char *);
    put_str(b, first ? ": " : " ");
    first = false;
    put_text_sanitised(b, key);
    put_str(b, "=");
    put_text_sanitised(b, value != NULL ? value : "");
  }
}

void cp_log(cp_log_level level, const char *message, ...) {
  if (!cp_log_enabled(level) || message == NULL) {
    return;
  }
  line_buf b;
  b.len = 0;
  b.truncated = false;
  va_list ap;
  va_start(ap, message);
  if (atomic_load(&log_format) == CP_LOG_FORMAT_JSON) {
    format_json(&b, level, message, ap);
  } else {
    format_text(&b, level, message, ap);
  }
  va_end(ap);
  pthread_mutex_lock(&sink_mu);
  cp_log_sink_fn fn = sink_fn;
  void *user = sink_user;
  if (fn != NULL) {
    b.data[b.len] = '\0';
    fn(b.data, b.len, user);
  } else {
    b.data[b.len] = '\n';
    /* One write per record keeps concurrent lines whole. */
    ssize_t ignored = write(STDERR_FILENO, b.data, b.len + 1);
    (void)ignored;
  }
  pthread_mutex_unlock(&sink_mu);
}
