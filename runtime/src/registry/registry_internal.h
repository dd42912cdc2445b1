/* The registry's data model, shared by its files (internal).
 *
 *   registry.c         create/destroy, options, statistics, the commit
 *   store.c            the tables of types and runtimes
 *   registrations.c    registration IDs; adding and removing registrations
 *                      and runtimes
 *   rules.c, allow.c   validation; allow-lists
 *   health_store.c     health reports per runtime
 *   liveness.c         leases, probes, GONE runtimes and their removal
 *   takeover.c         a restarted plugin replacing its predecessor
 *   selection.c        routable lists, strategies, resolve and discover
 *   endpoint.c         ServiceEndpoint messages from a registration
 *   watch.c            watchers and their events (also on other streams:
 *                      cp_registry_watch)
 *   listing.c          cp_registry_list, the read-only enumeration
 *   tokens.c           revocation and expiry from the token store
 *   replication.c      what the replicator is told (a leaf: registrations.c
 *                      adopts and drops other replicas' registrations,
 *                      registry.c sets the replicator)
 *   identity.c         the caller, from the call's auth context
 *   registry_service.c, lifecycle_service.c   the RPC glue
 *   htab.c, rwshard.c, semver.c                building blocks
 *
 * Locking: reg->lock (a read-mostly lock) guards every table and entry
 * below. Readers (resolve, discover) take a shard; every mutation takes the
 * write side, marks the service types it changed, and ends with
 * cpi_reg_commit_unlock(), which refreshes their routable lists, offers watch
 * events, unlocks, then sends (outside the lock) and frees what was
 * removed. Nothing calls into a stream with reg->lock held. */
#ifndef CPLUGIN_REGISTRY_REGISTRY_INTERNAL_H
#define CPLUGIN_REGISTRY_REGISTRY_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/sweep_mark.h"
#include "core/siphash.h"
#include "cplugin/registry.h"
#include "plugin/v1/registry.pb-c.h"
#include "push/push.h"
#include "registry/base_url.h"
#include "registry/registry_replica.h"
#include "core/htab.h"
#include "core/rwshard.h"

typedef struct reg_entry reg_entry;
typedef struct svc_type svc_type;
typedef struct rt_entry rt_entry;
typedef struct reg_forgotten reg_forgotten;
typedef struct reg_watcher reg_watcher;
typedef struct allow_entry allow_entry;

typedef struct reg_meta {
  const char *key;
  const char *value;
} reg_meta;

/* One registration: one allocation of the header and its strings, laid out
 * in `data` and named by small offsets (pointers would cost more than the
 * strings of a typical registration):
 *   version NUL, path NUL, [base_url value NUL], then each other metadata
 *   entry as key NUL value NUL, in order. The "base_url" entry is not
 *   repeated there: base_url_at says where it goes among them.
 * The registration ID is node.hash: IDs are random, so each is its own
 * hash (measured by the memory benchmark). */
struct reg_entry {
  cp_hnode node; /* reg->regs, hash = the registration ID */
  reg_entry *owner_next;
  svc_type *type;
  rt_entry *owner;          /* NULL once unlinked, until the commit frees it */
  uint32_t weight : 24;     /* <= CP_REGISTRY_MAX_WEIGHT */
  uint32_t base_url_at : 8; /* index of "base_url" among the metadata */
  uint16_t base_url;        /* offset of its value, 0 = none */
  uint8_t path;             /* offset of the path (the version is at 0) */
  uint8_t meta_count;
  char data[];
};

static inline uint64_t reg_entry_id(const reg_entry *e) {
  return e->node.hash;
}

static inline const char *reg_entry_version(const reg_entry *e) {
  return e->data;
}

static inline const char *reg_entry_path(const reg_entry *e) {
  return e->data + e->path;
}

/* The metadata "base_url" value, or NULL. */
static inline const char *reg_entry_base_url(const reg_entry *e) {
  return e->base_url != 0 ? e->data + e->base_url : NULL;
}

#define CPI_REG_BASE_URL_KEY "base_url"

/* The metadata in order: `at` starts as cpi_reg_meta_begin(e); the call for
 * entry i (0 .. meta_count - 1) fills *m and returns the next `at`. Inline:
 * leaf files (replication.c) read entries without calling into the
 * registry's other files. */
static inline const char *cpi_reg_meta_begin(const reg_entry *e) {
  const char *at = reg_entry_path(e);
  at += strlen(at) + 1;
  if (e->base_url != 0) {
    at += strlen(at) + 1;
  }
  return at;
}

static inline const char *cpi_reg_meta_next(const reg_entry *e, const char *at,
                                            uint32_t i, reg_meta *m) {
  if (e->base_url != 0 && i == e->base_url_at) {
    m->key = CPI_REG_BASE_URL_KEY;
    m->value = reg_entry_base_url(e);
    return at;
  }
  m->key = at;
  at += strlen(at) + 1;
  m->value = at;
  return at + strlen(at) + 1;
}

/* A service type: its providers and watchers. Freed when it has neither and
 * no strategy was set for it. */
struct svc_type {
  cp_hnode node;         /* reg->types */
  reg_entry **providers; /* registration order */
  size_t count;
  /* Providers unlinked (owner NULL) since the last commit: still in
   * `providers` until cpi_sel_rebuild compacts it, inside the same write-locked
   * section, so readers never see them. */
  size_t unlinked;
  size_t cap;
  /* The routable providers (runtime not UNHEALTHY) in registration order,
   * and their cumulative weights: kept (non-NULL, `cap` long) only while
   * the strategy is weighted, the only reader. */
  reg_entry **routable;
  uint64_t *cum_weight;
  size_t routable_count;
  size_t routable_cap;
  atomic_uint_fast64_t rr; /* round-robin position */
  cp_select_strategy strategy;
  bool pinned; /* a strategy was set */
  reg_watcher *watchers;
  size_t watcher_count;
  /* The last answer watchers were given. */
  bool announced;
  int last_state;
  uint64_t last_reg_id;
  /* Write bookkeeping (reg->lock write side). */
  bool dirty;
  bool needs_rebuild;
  svc_type *dirty_next;
  size_t name_len;
  char name[];
};

/* The strings of a runtime's latest health report (one allocation of the
 * struct per report, kept apart: most runtimes never send a reason). */
typedef struct reg_health_detail {
  char *reason;
  char **deps;
  size_t dep_count;
} reg_health_detail;

/* A caller identity that owns registrations, health or watchers. There is
 * one per plugin, so the small fields are packed before the ID (the counts
 * fit 32 bits: copy_options caps the per-runtime limits there). */
struct rt_entry {
  cp_hnode node; /* reg->runtimes */
  reg_entry *regs;
  reg_watcher *watchers;     /* via owner_next */
  reg_health_detail *detail; /* NULL until a report */
  /* Liveness: the last proof of life (creation, a registration, a health
   * report, an answered probe); while GONE, when it was declared gone. */
  int64_t last_seen_ns;
  /* Keyed hash of the principal it registered as over RPC (takeover.c).
   * With these 16 bytes a runtime with a 29-byte ID still fits a 112-byte
   * malloc chunk (docs/performance.md). */
  uint64_t principal_hash;
  uint32_t reg_count;
  uint32_t reg_bytes;
  uint32_t watcher_count;
  uint16_t id_len; /* <= CP_REGISTRY_OWNER_MAX */
  uint8_t health;  /* a cp_plugin_health */
  /* Bit-fields keep the record in its malloc chunk (store.c). */
  bool has_health : 1;
  bool gone : 1;          /* not routed; removed after the grace period */
  bool principal_set : 1; /* principal_hash is known (registered over RPC) */
  bool draining : 1;      /* the host stops routing to it: not routed */
  char id[];
};

struct reg_watcher {
  cp_hnode node; /* reg->streams, hash = pointer of the stream */
  reg_watcher *type_prev;
  reg_watcher *type_next;
  reg_watcher *owner_next;
  svc_type *type;
  rt_entry *owner;
  cp_push *push;
  /* Reused after unlinking, to hand the watcher to cpi_reg_commit_unlock. */
  reg_watcher *gone_next;
  cp_status_code end_code;
  const char *end_message;
};

/* What an allow-list key names (cp_registry_allow). */
typedef enum allow_kind {
  ALLOW_RUNTIME = 0,   /* a runtime ID, lower-cased */
  ALLOW_PRINCIPAL = 1, /* "<provider>:<identity>", exact */
  ALLOW_SELF_ID = 2    /* a claimed self_id, lower-cased (opt-in) */
} allow_kind;

struct allow_entry {
  cp_hnode node; /* reg->allows, hash of the key (kinds share the table) */
  allow_kind kind;
  bool any;
  size_t count;
  char **types;
  char key[];
};

struct cp_registry {
  cp_rwshard lock; /* first: cache-line aligned */
  cp_siphash_key hash_key;
  cp_htab types;
  cp_htab runtimes;
  cp_htab regs;
  cp_htab streams;
  cp_htab allows;
  size_t reg_count;
  size_t reg_bytes; /* stored, as counted against the caps */
  size_t watcher_count;

  /* Options (strings copied). */
  cp_token_store *tokens;
  unsigned base_url_allow;
  bool require_allow_list;
  bool allow_self_id_keys;
  size_t max_regs_per_runtime;
  size_t max_bytes_per_runtime;
  size_t max_bytes;
  size_t max_regs;
  size_t max_watchers_per_runtime;
  size_t max_watchers;
  char **runtime_providers;
  size_t runtime_provider_count;
  char *host_provider;
  cp_registry_random_fn random;
  void *random_user;
  atomic_uint_fast64_t rng_state;
  cp_registry_removed_fn on_removed;
  void *on_removed_user;
  /* Liveness (liveness.c); lease_ns 0 = off. */
  const cp_clock *clock;
  int64_t lease_ns;
  int64_t grace_ns;
  uint32_t lease_misses;
  cp_registry_probe_fn probe;
  void *probe_user;
  size_t gone_count;
  uint64_t gone_total;
  uint64_t takeover_total;
  cpi_sweep_mark liveness_mark; /* passes that completed */

  cp_push_hub *hub;

  /* The current write: changed types, removed entries (freed once no
   * routable list points at them) and unlinked watchers. */
  svc_type *dirty;
  reg_entry *trash;
  reg_watcher *gone;

  /* Token listener registration (tokens.c). */
  cp_registry *live_next;
  uint64_t live_id;

  /* Replication (replication.c, registry_replica.h): the replicator, and
   * whether the current write is one it must not hear of. */
  cpi_reg_replicator_fn replicator;
  void *replicator_user;
  bool quiet;

  /* Runtimes liveness removed, oldest first (forgotten.c); NULL until the
   * first. */
  reg_forgotten *forgotten;
  size_t forgotten_count;
};

/* --- store.c, registrations.c --------------------------------------------- */

uint64_t cpi_reg_hash_name(const cp_registry *reg, const char *s, size_t len);
svc_type *cpi_reg_find_type(const cp_registry *reg, const char *name);
/* Finds or creates (write lock). NULL when out of memory. */
svc_type *cpi_reg_get_type(cp_registry *reg, const char *name);
/* Frees `t` when nothing refers to it (write lock, not during a commit's
 * dirty walk). */
void cpi_reg_type_maybe_free(cp_registry *reg, svc_type *t);
rt_entry *cpi_reg_find_runtime(const cp_registry *reg, const char *id);
rt_entry *cpi_reg_get_runtime(cp_registry *reg, const char *id);
void cpi_reg_runtime_clear_health(rt_entry *rt);

/* Frees a health report's strings (NULL allowed). */
void cpi_reg_health_detail_free(reg_health_detail *d);
/* Frees `rt` when it has no registrations, watchers or health. */
void cpi_reg_runtime_maybe_free(cp_registry *reg, rt_entry *rt);
/* True for UNHEALTHY and GONE runtimes, which are not routed. */
bool cpi_reg_runtime_blocked(const rt_entry *rt);
reg_entry *cpi_reg_find_id(const cp_registry *reg, uint64_t id);
/* Parses "reg-" + 16 lower-case hex digits. */
bool cpi_reg_parse_id(const char *text, uint64_t *id);
void cpi_reg_format_id(uint64_t id, char out[CP_REGISTRY_ID_LEN + 1]);
/* Bytes the entry's allocation takes (counted against the runtime). */
size_t cpi_reg_entry_bytes(const reg_entry *e);

typedef enum reg_add_result {
  REG_ADDED = 0,
  REG_EXISTS = 1,  /* idempotent repeat: *id_out is the existing ID */
  REG_INVALID = 2, /* `why` names the field */
  REG_DENIED = 3,  /* not in the runtime's allow-list */
  REG_LIMIT = 4,   /* `why` names the cap */
  REG_NOMEM = 5,
  REG_RANDOM_FAILED = 6 /* the CSPRNG failed */
} reg_add_result;

/* Validates, then adds (or finds the same) registration owned by `owner`;
 * `check_allow` applies the allow-list, with `principal` (NULL or "" =
 * anonymous) the owner's authenticated principal. On REG_DENIED `why` holds
 * "" or ": <reason>". Takes the write lock itself. */
reg_add_result cpi_reg_add(cp_registry *reg, const char *owner,
                           const char *principal,
                           const cp_registry_service *svc, bool check_allow,
                           uint64_t *id_out, char *why, size_t why_cap);

typedef enum reg_remove_result {
  REG_REMOVED = 0,
  REG_NOT_FOUND = 1,
  REG_NOT_OWNER = 2
} reg_remove_result;

/* With the write lock held: unlinks `e` from every table; the commit frees
 * it once the routable lists no longer point at it. */
void cpi_reg_unlink_entry(cp_registry *reg, reg_entry *e);

/* owner NULL = the host (any registration). */
reg_remove_result cpi_reg_remove(cp_registry *reg, uint64_t id,
                                 const char *owner);

/* With the write lock held: removes the runtime's registrations, health
 * and watchers (ended with code and message) and frees it. */
void cpi_reg_drop_runtime_locked(cp_registry *reg, rt_entry *rt,
                                 cp_status_code code, const char *message);
/* The same as a whole write. Returns 0 or CP_ENOTFOUND. */
int cpi_reg_drop_runtime(cp_registry *reg, const char *runtime_id,
                         cp_status_code code, const char *message);

/* Marks `t` changed in the current write (`rebuild`: its routable list). */
void cpi_reg_mark_dirty(cp_registry *reg, svc_type *t, bool rebuild);
/* Ends a write: see the file comment. */
void cpi_reg_commit_unlock(cp_registry *reg);

/* With the write lock held: tells the replicator (if any, and unless the
 * write is quiet) that `e` was added or is being removed. */
void cpi_reg_replicate(cp_registry *reg, bool added, const reg_entry *e);

/* --- rules.c, allow.c, health_store.c ------------------------------------ */

/* NULL, or a message naming the field written to buf. Sets *weight. */
const char *cpi_reg_validate(const cp_registry_service *svc, uint32_t *weight,
                             char *buf, size_t cap);
/* Whether `owner` (authenticated as `principal`, NULL or "" = anonymous)
 * may register `type`. When not, `why` receives "" (its entry does not list
 * the type) or ": <reason>" (no entry under require_allow_list). */
bool cpi_reg_allowed(const cp_registry *reg, const char *owner,
                     const char *principal, const char *type, char *why,
                     size_t why_cap);
void cpi_reg_allow_free(allow_entry *a);
const char *cpi_reg_check_health(cp_plugin_health state, const char *reason,
                                 const char *const *deps, size_t n, char *buf,
                                 size_t cap);
/* Stores a validated report. Returns 0, CP_ENOMEM, or - only when
 * `refuse_forgotten` (a report over RPC) - CP_ENOTFOUND, storing nothing,
 * for a runtime liveness removed that has not shown up since. */
int cpi_reg_set_health(cp_registry *reg, const char *runtime_id,
                       cp_plugin_health state, const char *reason,
                       const char *const *deps, size_t n,
                       bool refuse_forgotten);

/* --- forgotten.c: runtimes liveness removed (write lock held) ----------- */

enum { REG_FORGOTTEN_MAX = 1024 };
void cpi_reg_forget(cp_registry *reg, const rt_entry *rt);
bool cpi_reg_forgotten(const cp_registry *reg, const char *id);
void cpi_reg_unforget(cp_registry *reg, const char *id);
/* A runtime of self_id rt->id[0..name_len) registered: its forgotten
 * predecessors (same principal) are no longer told to rejoin. */
void cpi_reg_unforget_predecessors(cp_registry *reg, const rt_entry *rt,
                                   size_t name_len);
void cpi_reg_forgotten_free(cp_registry *reg);

/* --- liveness.c, takeover.c --------------------------------------------- */

int64_t cpi_reg_now(const cp_registry *reg);
/* With the write lock held: `rt` proved alive now; a GONE runtime comes
 * back (its types are rebuilt). */
void cpi_reg_runtime_touch(cp_registry *reg, rt_entry *rt);
/* With the write lock held, after `rt` registered a provider of `t` over
 * RPC: the other runtimes with its self_id and principal lose their
 * registrations of `t` (and are dropped if nothing else remains). */
void cpi_reg_take_over(cp_registry *reg, svc_type *t, rt_entry *rt);

/* --- runtime_id.c --------------------------------------------------------- */

/* Runtime IDs are "<self_id lower-cased>-<16 lower-case hex digits>" (the
 * token store's format): the length of the self_id part of `id`, or 0
 * when it does not have that form. */
size_t cpi_reg_self_id_len(const char *id, size_t len);
/* Whether the runtime `id` (id_len bytes, its principal's hash when
 * principal_set) is an instance of the plugin `rt` is: the same self_id,
 * rt->id[0..name_len) (from cpi_reg_self_id_len), and the same principal
 * (runtimes with no principal recorded never match). */
bool cpi_reg_same_plugin(const rt_entry *rt, size_t name_len, const char *id,
                         size_t id_len, bool principal_set,
                         uint64_t principal_hash);

/* --- selection.c, endpoint.c ---------------------------------------------- */

/* Appends a just-registered provider to the routable list if its runtime is
 * routable; rebuild recomputes the list. Neither allocates: the arrays grow
 * with the provider list. */
void cpi_sel_append(svc_type *t, reg_entry *e);
void cpi_sel_rebuild(svc_type *t);
/* DiscoverService's answer (takes the read lock). */
cp_status_code cpi_sel_discover(
    cp_registry *reg, cp_call *call, const char *service_type,
    const char *min_version, Connectplugin__V1__DiscoverServiceResponse *resp);
/* Copies `e` (owner linked) into *out, as cp_registry_resolve answers. */
void cpi_sel_fill_endpoint(cp_registry_endpoint *out, const reg_entry *e);
/* A ServiceEndpoint for `e` in one block of cpi_ep_bytes(e) bytes (16-byte
 * aligned). */
size_t cpi_ep_bytes(const reg_entry *e);
Connectplugin__V1__ServiceEndpoint *cpi_ep_build(void *mem, const reg_entry *e);

/* --- watch.c ------------------------------------------------------------- */

/* Offers the type's current answer to its watchers if it changed. */
void cpi_watch_announce(cp_registry *reg, svc_type *t);
/* Unlinks a watcher (write lock); the commit ends it. */
void cpi_watch_unlink(cp_registry *reg, reg_watcher *w, cp_status_code code,
                      const char *message);
/* Ends unlinked watchers (no lock held). */
void cpi_watch_end(reg_watcher *list);
/* The stream's done callback (user = the registry). */
void cpi_watch_stream_done(cp_stream *stream, void *user);
/* WatchService after the request checks: OK with the stream kept (by its
 * push), or an error. */
cp_status_code cpi_watch_start(cp_registry *reg, cp_call *call,
                               const char *service_type, const char *owner,
                               cp_stream *stream);

/* --- tokens.c, identity.c ------------------------------------------------ */

int cpi_reg_tokens_attach(cp_registry *reg);
void cpi_reg_tokens_detach(cp_registry *reg);
/* True when the call's runtime token still validates. */
bool cpi_reg_token_still_valid(cp_registry *reg, cp_call *call);

typedef enum reg_caller_kind {
  REG_CALLER_NONE = 0,
  REG_CALLER_RUNTIME = 1,
  REG_CALLER_HOST = 2
} reg_caller_kind;

typedef struct reg_caller {
  reg_caller_kind kind;
  const char *id; /* owned by the call */
  bool token;     /* authenticated by a runtime token */
} reg_caller;

/* The caller from the call's auth context, or UNAUTHENTICATED. */
cp_status_code cpi_reg_identify(cp_registry *reg, cp_call *call,
                                reg_caller *out);
/* The principal a runtime caller was authenticated as: for a runtime token,
 * the one its handshake recorded in the token store; for another runtime
 * provider, the call's own ("<provider>:<identity>"). "" when anonymous. */
void cpi_reg_principal(cp_registry *reg, cp_call *call,
                       const reg_caller *caller,
                       char out[CP_PRINCIPAL_MAX + 1]);
/* After a write for a token-authenticated caller: false (and the runtime's
 * state removed) when the token was revoked meanwhile. */
bool cpi_reg_recheck(cp_registry *reg, cp_call *call, const reg_caller *caller);

#endif /* CPLUGIN_REGISTRY_REGISTRY_INTERNAL_H */
