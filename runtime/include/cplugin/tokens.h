/* cplugin — the runtime identity token store.
 *
 * The host issues each plugin that names itself in the handshake a runtime ID
 * ("<self_id lower-cased>-<16 hex>") and a runtime token (32 random bytes,
 * base64url with padding, 44 characters). Every later call carries both; the
 * store validates them.
 *
 * Validation takes no lock and allocates nothing: the table is split into
 * shards, each guarded by a sequence counter that writers bump, and readers
 * retry when a write overlapped their read. Concurrent validations therefore
 * never wait for each other, and only contend with writes to the same shard.
 * The token comparison is constant-time.
 *
 * A valid check reads one 64-byte slot. The tables grow in place inside
 * address space reserved for `max_tokens` at creation (about 120 bytes per
 * token, untouched until used), so memory follows the live count and no old
 * table is kept for late readers.
 *
 * Limits: at most `max_tokens` live tokens (issue fails with CP_ELIMIT, which
 * the handshake maps to RESOURCE_EXHAUSTED); expired tokens are removed by the
 * background sweep and, lazily, by a validation that finds one.
 *
 * Thread safety: every function may be called from any thread, except
 * cp_token_store_destroy (no other call may be running).
 */
#ifndef CPLUGIN_TOKENS_H
#define CPLUGIN_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/export.h"
#include "cplugin/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Length of a runtime token (without the NUL). */
#define CP_TOKEN_LEN 44
/* Longest self_id accepted, and the longest runtime ID that results. */
#define CP_SELF_ID_MAX 128
#define CP_RUNTIME_ID_MAX (CP_SELF_ID_MAX + 17)
/* Longest principal kept with an identity (see cp_token_store_issue_for). */
#define CP_PRINCIPAL_MAX 256
/* Largest max_tokens a store accepts. */
#define CP_TOKEN_STORE_MAX_TOKENS (1u << 24)

typedef struct cp_token_store cp_token_store;

/* Fills buf[0..n) with random bytes; returns 0, nonzero on failure. */
typedef int (*cp_token_random_fn)(void *buf, size_t n, void *user);

typedef struct cp_token_store_options {
  int64_t ttl_ms; /* token lifetime (default 24 h) */
  /* Live tokens (default 100 000; 1 .. CP_TOKEN_STORE_MAX_TOKENS). */
  size_t max_tokens;
  int64_t refresh_overlap_ms; /* old token stays valid after refresh (60 s) */
  /* Background sweep period (default 60 000 ms), on `clock` (the system
   * clock when NULL), so a cp_manual_clock drives it in tests; 0 = no
   * background sweep (call cp_token_store_sweep yourself). The sweeps run
   * on the process's one housekeeping thread, shared by every store,
   * limiter and watch of that clock. */
  int64_t sweep_interval_ms;
  /* NULL = CLOCK_MONOTONIC_COARSE (expiry is exact to a few milliseconds,
   * and the validation path avoids the cost of the precise clock). */
  const cp_clock *clock;
  /* Source of the random bytes for tokens and suffixes: NULL = the operating
   * system's CSPRNG (through OpenSSL's RAND_bytes). Tests set it to force
   * suffix collisions or a failing random source. Returns 0 on success. */
  cp_token_random_fn random;
  void *random_user;
} cp_token_store_options;

CP_API void cp_token_store_options_init(cp_token_store_options *opts);

/* Creates a store. `opts` may be NULL; it is copied. Returns 0, CP_EINVAL,
 * CP_ENOMEM, or CP_ESYS (the random source, or the housekeeping thread of a
 * store with a background sweep, cannot be had). Destroy with
 * cp_token_store_destroy. */
CP_API int cp_token_store_create(cp_token_store **out,
                                 const cp_token_store_options *opts);

/* Cancels the background sweep (waiting for one in progress) and frees
 * everything. NULL allowed. */
CP_API void cp_token_store_destroy(cp_token_store *store);

/* Checks a self_id against upstream's rules: 1..128 bytes, first a letter,
 * then letters, digits, '_', '.', '-'. */
CP_API bool cp_self_id_valid(const char *self_id);

/* Issues a new identity for `self_id`: writes the runtime ID (NUL-terminated,
 * at most CP_RUNTIME_ID_MAX chars) and the token (CP_TOKEN_LEN chars + NUL).
 * A fresh random suffix is drawn until it is unused, so an existing identity
 * is never overwritten. Returns 0; CP_EINVAL for an invalid self_id or small
 * buffers; CP_ELIMIT when max_tokens are live; CP_ESYS when the operating
 * system's random source fails. */
CP_API int cp_token_store_issue(cp_token_store *store, const char *self_id,
                                char *runtime_id, size_t runtime_id_cap,
                                char token[CP_TOKEN_LEN + 1]);

/* cp_token_store_issue, and records with the identity the principal its
 * handshake was authenticated as (cp_call_principal: "api-key:<name>",
 * "mtls:<subject>"), for authorization by the operator's allow-lists. NULL
 * or "" = an anonymous handshake. At most CP_PRINCIPAL_MAX bytes, copied;
 * kept until the identity is revoked or expires. Returns as
 * cp_token_store_issue (CP_EINVAL for a principal that is too long). */
CP_API int cp_token_store_issue_for(cp_token_store *store, const char *self_id,
                                    const char *principal, char *runtime_id,
                                    size_t runtime_id_cap,
                                    char token[CP_TOKEN_LEN + 1]);

/* Copies the principal recorded for the live identity `runtime_id` into
 * `out` ("" when its handshake was anonymous). Takes the identity's shard
 * lock (not the lock-free path: for authorization decisions, not per call).
 * Returns 0, CP_ENOTFOUND (no such live identity) or CP_EINVAL. */
CP_API int cp_token_store_principal(cp_token_store *store,
                                    const char *runtime_id,
                                    char out[CP_PRINCIPAL_MAX + 1]);

/* True when `token` is the current token of `runtime_id` (or its previous one
 * within the refresh overlap) and has not expired. Neither string needs a
 * terminating NUL. Takes no lock, allocates nothing, compares the token in
 * constant time, and fails the same way for unknown, wrong, expired and
 * revoked credentials. */
CP_API bool cp_token_store_validate(cp_token_store *store,
                                    const char *runtime_id,
                                    size_t runtime_id_len, const char *token,
                                    size_t token_len);

/* Revokes an identity: its tokens stop validating at once and listeners are
 * told (CP_TOKEN_REVOKED). Returns 0 or CP_ENOTFOUND. */
CP_API int cp_token_store_revoke(cp_token_store *store, const char *runtime_id);

/* Issues a new token for `runtime_id` with a fresh lifetime; the previous
 * token keeps validating for refresh_overlap_ms (never past its own expiry).
 * Returns 0, CP_ENOTFOUND, or CP_ESYS. */
CP_API int cp_token_store_refresh(cp_token_store *store, const char *runtime_id,
                                  char token[CP_TOKEN_LEN + 1]);

/* The lifetime of a freshly issued or refreshed token (options.ttl_ms), so
 * a handshake can tell the plugin when to renew. */
CP_API int64_t cp_token_store_ttl_ms(const cp_token_store *store);

/* Removes every expired identity now (listeners are told, CP_TOKEN_EXPIRED);
 * returns how many. The background sweep calls this periodically. */
CP_API size_t cp_token_store_sweep(cp_token_store *store);

/* Live identities (expired ones count until removed). */
CP_API size_t cp_token_store_count(const cp_token_store *store);

typedef struct cp_token_store_stats {
  size_t identities; /* live; expired ones count until removed */
  /* Bytes the identities occupy: table slots at the table's current size,
   * previous tokens of refreshed identities, interned names and principals
   * (not allocator overhead, not the address space reserved for growth). */
  size_t memory_bytes;
  /* Sweeps finished (background and cp_token_store_sweep), and when the
   * last one finished: wall-clock ms since the Unix epoch, or the store's
   * creation before the first. */
  uint64_t sweeps;
  int64_t last_sweep_unix_ms;
} cp_token_store_stats;

/* Fills `out`. Takes each shard's lock briefly (not for hot paths). */
CP_API void cp_token_store_get_stats(cp_token_store *store,
                                     cp_token_store_stats *out);

typedef enum cp_token_event {
  CP_TOKEN_REVOKED = 1,
  CP_TOKEN_EXPIRED = 2
} cp_token_event;

/* Called after an identity was revoked or removed as expired, on the thread
 * that did it (the caller of revoke, the housekeeping thread's sweep, or a
 * validating server thread), without store locks held; it may call back
 * into the store. */
typedef void (*cp_token_listener_fn)(const char *runtime_id,
                                     cp_token_event event, void *user);

/* Adds a listener; there is no limit but memory. A notification already
 * running when it is added may or may not call it. Returns 0, CP_EINVAL or
 * CP_ENOMEM. */
CP_API int cp_token_store_subscribe(cp_token_store *store,
                                    cp_token_listener_fn fn, void *user);

/* Removes the listener added with the same fn and user, and waits until no
 * notification is still calling it: once it returns, `user` may be freed,
 * and notifications that had not reached it yet skip it.
 * Not to be called from a listener (it would wait for itself). Returns 0,
 * CP_ENOTFOUND or CP_EINVAL. */
CP_API int cp_token_store_unsubscribe(cp_token_store *store,
                                      cp_token_listener_fn fn, void *user);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_TOKENS_H */
