/* Sealing runtime identities for etcd; see identity_value.h. */
#include "replica/identity_value.h"

#include <string.h>
#include <time.h>

#include "cplugin/errors.h"
#include "crypto/crypto.h"

enum { HEAD = 8 + 8 + 8 + 2 * CPI_TOKEN_BYTES + 2 };

cpi_clock_pair cpi_clock_pair_now(const cp_token_store *store) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  cpi_clock_pair p = {cpi_token_store_now_ns(store),
                      (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000};
  return p;
}

static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) {
    p[i] = (uint8_t)(v >> (8 * i));
  }
}

static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) {
    v |= (uint64_t)p[i] << (8 * i);
  }
  return v;
}

/* A store time as Unix ms; INT64_MIN (none) as 0. */
static int64_t to_unix_ms(int64_t ns, cpi_clock_pair now) {
  return ns == INT64_MIN ? 0 : now.unix_ms + (ns - now.store_ns) / 1000000;
}

/* Unix ms as a store time; 0 as INT64_MIN. Saturates instead of wrapping
 * on times no replica would write. */
static int64_t from_unix_ms(int64_t ms, cpi_clock_pair now) {
  if (ms == 0) {
    return INT64_MIN;
  }
  int64_t delta = ms - now.unix_ms;
  if (delta > INT64_MAX / 2000000) {
    delta = INT64_MAX / 2000000;
  } else if (delta < -INT64_MAX / 2000000) {
    delta = -INT64_MAX / 2000000;
  }
  int64_t ns = now.store_ns + delta * 1000000;
  return ns == INT64_MIN ? INT64_MIN + 1 : ns;
}

int cpi_identity_value_seal(const cpi_seal_key *seal, const void *key,
                            size_t key_len, uint64_t writer,
                            const cpi_token_record *rec, cpi_clock_pair now,
                            uint8_t *out, size_t *out_len) {
  uint8_t plain[HEAD + CP_PRINCIPAL_MAX];
  size_t principal = strnlen(rec->principal, CP_PRINCIPAL_MAX);
  put64(plain, writer);
  put64(plain + 8, (uint64_t)to_unix_ms(rec->expires_ns, now));
  put64(plain + 16, (uint64_t)to_unix_ms(rec->prev_expires_ns, now));
  memcpy(plain + 24, rec->token, CPI_TOKEN_BYTES);
  memcpy(plain + 24 + CPI_TOKEN_BYTES, rec->prev_token, CPI_TOKEN_BYTES);
  plain[HEAD - 2] = (uint8_t)principal;
  plain[HEAD - 1] = (uint8_t)(principal >> 8);
  memcpy(plain + HEAD, rec->principal, principal);
  size_t len = HEAD + principal;
  int rc = cpi_seal(seal, key, key_len, plain, len, out);
  cpi_secure_zero(plain, sizeof plain);
  *out_len = rc == 0 ? len + CPI_SEAL_OVERHEAD : 0;
  return rc;
}

int cpi_identity_value_open(const cpi_seal_key *seal, const void *key,
                            size_t key_len, const uint8_t *value, size_t len,
                            cpi_clock_pair now, cpi_token_record *rec,
                            uint64_t *writer) {
  uint8_t plain[HEAD + CP_PRINCIPAL_MAX];
  size_t plain_len = 0;
  if (len < HEAD + CPI_SEAL_OVERHEAD || len > CPI_IDENTITY_VALUE_MAX ||
      cpi_seal_open(seal, key, key_len, value, len, plain, &plain_len) != 0) {
    return CP_EDECODE;
  }
  size_t principal = (size_t)plain[HEAD - 2] | (size_t)plain[HEAD - 1] << 8;
  int rc = CP_EDECODE;
  if (principal == plain_len - HEAD &&
      memchr(plain + HEAD, '\0', principal) == NULL) {
    *writer = get64(plain);
    rec->expires_ns = from_unix_ms((int64_t)get64(plain + 8), now);
    rec->prev_expires_ns = from_unix_ms((int64_t)get64(plain + 16), now);
    memcpy(rec->token, plain + 24, CPI_TOKEN_BYTES);
    memcpy(rec->prev_token, plain + 24 + CPI_TOKEN_BYTES, CPI_TOKEN_BYTES);
    memcpy(rec->principal, plain + HEAD, principal);
    rec->principal[principal] = '\0';
    rc = rec->expires_ns == INT64_MIN ? CP_EDECODE : 0;
  }
  cpi_secure_zero(plain, sizeof plain);
  return rc;
}
