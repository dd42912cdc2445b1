/* Semantic Versioning 2.0.0 precedence. */
#include "core/semver.h"

#include <stddef.h>
#include <string.h>

/* A version split into its parts (pointers into the string). */
typedef struct semver {
  const char *num[3];
  size_t num_len[3];
  const char *pre; /* NULL when there is no pre-release */
  size_t pre_len;
} semver;

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

static bool is_ident_char(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         c == '-';
}

/* Dot-separated non-empty identifiers in s[0..len). */
static bool idents_valid(const char *s, size_t len) {
  size_t run = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '.') {
      if (run == 0) {
        return false;
      }
      run = 0;
    } else if (is_ident_char(s[i])) {
      run++;
    } else {
      return false;
    }
  }
  return run > 0;
}

static bool parse(const char *v, semver *out) {
  if (v == NULL) {
    return false;
  }
  const char *p = v;
  for (int i = 0; i < 3; i++) {
    const char *start = p;
    while (is_digit(*p)) {
      p++;
    }
    if (p == start || (i < 2 && *p != '.')) {
      return false;
    }
    out->num[i] = start;
    out->num_len[i] = (size_t)(p - start);
    if (i < 2) {
      p++;
    }
  }
  out->pre = NULL;
  out->pre_len = 0;
  if (*p == '-') {
    p++;
    size_t len = strcspn(p, "+");
    if (!idents_valid(p, len)) {
      return false;
    }
    out->pre = p;
    out->pre_len = len;
    p += len;
  }
  if (*p == '+') {
    p++;
    size_t len = strlen(p);
    if (!idents_valid(p, len)) {
      return false;
    }
    p += len;
  }
  return *p == '\0';
}

bool cpi_semver_valid(const char *v) {
  semver s;
  return parse(v, &s);
}

static int sign(int x) {
  return (x > 0) - (x < 0);
}

/* Digit strings of any length, by value. */
static int compare_numbers(const char *a, size_t alen, const char *b,
                           size_t blen) {
  while (alen > 1 && *a == '0') {
    a++;
    alen--;
  }
  while (blen > 1 && *b == '0') {
    b++;
    blen--;
  }
  if (alen != blen) {
    return alen < blen ? -1 : 1;
  }
  return sign(memcmp(a, b, alen));
}

static bool all_digits(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (!is_digit(s[i])) {
      return false;
    }
  }
  return len > 0;
}

static int compare_ident(const char *a, size_t alen, const char *b,
                         size_t blen) {
  bool an = all_digits(a, alen);
  bool bn = all_digits(b, blen);
  if (an && bn) {
    return compare_numbers(a, alen, b, blen);
  }
  if (an != bn) {
    return an ? -1 : 1; /* numeric identifiers rank lower */
  }
  size_t n = alen < blen ? alen : blen;
  int c = memcmp(a, b, n);
  if (c != 0) {
    return sign(c);
  }
  return alen == blen ? 0 : (alen < blen ? -1 : 1);
}

static int compare_prerelease(const semver *a, const semver *b) {
  if (a->pre == NULL || b->pre == NULL) {
    /* A release ranks above its pre-releases. */
    return (a->pre == NULL) - (b->pre == NULL);
  }
  const char *pa = a->pre;
  const char *ea = a->pre + a->pre_len;
  const char *pb = b->pre;
  const char *eb = b->pre + b->pre_len;
  while (pa < ea && pb < eb) {
    const char *da = memchr(pa, '.', (size_t)(ea - pa));
    const char *db = memchr(pb, '.', (size_t)(eb - pb));
    size_t la = (size_t)((da != NULL ? da : ea) - pa);
    size_t lb = (size_t)((db != NULL ? db : eb) - pb);
    int c = compare_ident(pa, la, pb, lb);
    if (c != 0) {
      return c;
    }
    pa += la + (da != NULL ? 1 : 0);
    pb += lb + (db != NULL ? 1 : 0);
  }
  /* Equal so far: the one with identifiers left ranks higher. */
  return (pa < ea) - (pb < eb);
}

int cpi_semver_compare(const char *a, const char *b) {
  semver sa;
  semver sb;
  bool va = parse(a, &sa);
  bool vb = parse(b, &sb);
  if (!va || !vb) {
    return (int)va - (int)vb;
  }
  for (int i = 0; i < 3; i++) {
    int c = compare_numbers(sa.num[i], sa.num_len[i], sb.num[i], sb.num_len[i]);
    if (c != 0) {
      return c;
    }
  }
  return compare_prerelease(&sa, &sb);
}
