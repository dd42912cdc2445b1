/* The router's connections to provider addresses (internal).
 *
 * A bounded table of clients, one per (address, TLS) pair, reused by every
 * call to that address. When the table is full the least recently used
 * entry is evicted; a client is shared by reference (transport/client_ref.h),
 * so calls already forwarded through an evicted or forgotten entry finish on
 * their channel and the table never refuses a new address. */
#ifndef CPLUGIN_ROUTER_TARGETS_H
#define CPLUGIN_ROUTER_TARGETS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cplugin/client.h"
#include "cplugin/router.h"
#include "cplugin/tls.h"

/* Room for a normalised address: a route target's, NUL included. */
enum { TARGET_ADDRESS_MAX = CP_ROUTE_ADDRESS_MAX + 1 };

typedef struct target_conn {
  char *address; /* owned */
  bool tls;
  uint64_t last_used; /* table tick of the last acquire */
  cp_client *client;
} target_conn;

typedef struct target_table {
  pthread_mutex_t mu;
  target_conn *slots;
  size_t count;
  size_t cap;
  uint64_t tick;
  uint64_t evicted;
  const cp_tls_client_options *tls; /* NULL = refuse TLS addresses */
  size_t max_message_bytes;         /* 0 = the client default */
  /* mu: makes clients for "inproc:" addresses (NULL = none reachable). */
  cp_router_connect_fn connect;
  void *connect_user;
} target_table;

/* Prepares an empty table of `cap` (> 0) entries. Returns 0 or CP_ENOMEM. */
int cpi_target_table_init(target_table *t, size_t cap,
                          const cp_tls_client_options *tls,
                          size_t max_message_bytes);

/* Releases every client (forwards in flight keep theirs). */
void cpi_target_table_destroy(target_table *t);

/* A client for `address`, retained for the caller (release it with
 * cpi_client_release once the call is forwarded). Creates it on first use,
 * evicting the least recently used entry when the table is full. NULL when
 * `tls` is asked for without TLS options or the client cannot be made.
 * Thread-safe. */
cp_client *cpi_target_table_acquire(target_table *t, const char *address,
                                    bool tls);

/* Drops the entry of `address` (plain and TLS). Returns how many entries were
 * dropped. Thread-safe. */
size_t cpi_target_table_forget(target_table *t, const char *address);

/* Sets the connector for "inproc:" addresses (under mu: a connector being
 * replaced has returned once this does). Thread-safe. */
void cpi_target_table_set_connector(target_table *t,
                                    cp_router_connect_fn connect, void *user);

/* Entries in use and evictions since creation. Thread-safe. */
void cpi_target_table_counts(target_table *t, size_t *count, uint64_t *evicted);

/* Bytes of the table and its entries' addresses (the clients' gRPC channels
 * are not counted). */
size_t cpi_target_table_bytes(target_table *t);

#endif /* CPLUGIN_ROUTER_TARGETS_H */
