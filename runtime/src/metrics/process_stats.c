/* /proc readers for the process gauges: a stack buffer and read(2), so a
 * scrape allocates nothing here. */
#include "metrics/process_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

enum { STATUS_MAX = 8192 };

/* Reads up to cap-1 bytes of `path` into buf (NUL-terminated); returns the
 * length or -1. */
static ssize_t read_file(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return -1;
  }
  size_t len = 0;
  while (len + 1 < cap) {
    ssize_t n = read(fd, buf + len, cap - 1 - len);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    len += (size_t)n;
  }
  close(fd);
  buf[len] = '\0';
  return (ssize_t)len;
}

/* Parses the decimal number at *p (after optional blanks), advancing *p. */
static int64_t parse_u(const char **p) {
  const char *s = *p;
  while (*s == ' ' || *s == '\t') {
    s++;
  }
  int64_t v = 0;
  while (*s >= '0' && *s <= '9' && v < INT64_MAX / 10) {
    v = v * 10 + (*s - '0');
    s++;
  }
  *p = s;
  return v;
}

int64_t cpi_process_resident_bytes(void *user) {
  (void)user;
  char buf[256];
  if (read_file("/proc/self/statm", buf, sizeof buf) <= 0) {
    return 0;
  }
  const char *p = buf;
  (void)parse_u(&p); /* total program size */
  int64_t pages = parse_u(&p);
  long page = sysconf(_SC_PAGESIZE);
  if (page <= 0 || pages > INT64_MAX / page) {
    return 0;
  }
  return pages * page;
}

int64_t cpi_process_threads(void *user) {
  (void)user;
  char buf[STATUS_MAX];
  if (read_file("/proc/self/status", buf, sizeof buf) <= 0) {
    return 0;
  }
  const char *line = strstr(buf, "\nThreads:");
  if (line == NULL) {
    return 0;
  }
  const char *p = line + strlen("\nThreads:");
  return parse_u(&p);
}
