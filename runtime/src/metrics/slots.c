/* Thread slots for striped metric cells: a bitmap of free slots, claimed
 * with compare-and-swap, released by a thread-specific-data destructor. */
#include "metrics/slots.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

_Thread_local unsigned cpi_metric_tls_slot
    __attribute__((tls_model("initial-exec"))) = 0;

enum { WORDS = CP_METRIC_MAX_SLOTS / 64 };

static _Atomic uint64_t slot_bits[WORDS];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t slot_key;
static bool key_ok;
/* The key's value for slot k is &slot_marks[k]: a non-NULL pointer (so the
 * destructor runs) that encodes k without an integer-to-pointer cast. */
static char slot_marks[CP_METRIC_MAX_SLOTS];

/* Runs at thread exit with &slot_marks[slot] as the key's value. */
static void release_slot(void *value) {
  unsigned slot = (unsigned)((char *)value - slot_marks);
  /* Any update made later in this thread's exit (another destructor) must
   * not write to a stripe that a new thread may now own. */
  cpi_metric_tls_slot = CP_METRIC_SHARED_SLOT;
  if (slot < CP_METRIC_MAX_SLOTS) {
    /* release: this thread's plain stores to the stripe happen-before the
     * next owner's reads of it. */
    atomic_fetch_and_explicit(&slot_bits[slot / 64],
                              ~((uint64_t)1 << (slot % 64)),
                              memory_order_release);
  }
}

static void make_key(void) {
  key_ok = pthread_key_create(&slot_key, release_slot) == 0;
}

static unsigned claim_slot(void) {
  for (unsigned w = 0; w < WORDS; w++) {
    uint64_t bits = atomic_load_explicit(&slot_bits[w], memory_order_relaxed);
    while (bits != UINT64_MAX) {
      unsigned bit = (unsigned)__builtin_ctzll(~bits);
      if (atomic_compare_exchange_weak_explicit(
              &slot_bits[w], &bits, bits | ((uint64_t)1 << bit),
              memory_order_acquire, memory_order_relaxed)) {
        return w * 64 + bit;
      }
    }
  }
  return CP_METRIC_SHARED_SLOT;
}

unsigned cpi_metric_slot_acquire(void) {
  unsigned v = cpi_metric_tls_slot;
  if (v == CP_METRIC_SHARED_SLOT) {
    return CP_METRIC_SHARED_SLOT;
  }
  if (v != 0) {
    return v - 1u;
  }
  pthread_once(&key_once, make_key);
  unsigned slot = key_ok ? claim_slot() : CP_METRIC_SHARED_SLOT;
  if (slot != CP_METRIC_SHARED_SLOT &&
      pthread_setspecific(slot_key, &slot_marks[slot]) != 0) {
    /* Without the destructor the slot would leak at thread exit. */
    release_slot(&slot_marks[slot]);
    slot = CP_METRIC_SHARED_SLOT;
  }
  cpi_metric_tls_slot =
      slot == CP_METRIC_SHARED_SLOT ? CP_METRIC_SHARED_SLOT : slot + 1u;
  return slot;
}

unsigned cpi_metric_slots_in_use(void) {
  unsigned n = 0;
  for (unsigned w = 0; w < WORDS; w++) {
    n += (unsigned)__builtin_popcountll(
        atomic_load_explicit(&slot_bits[w], memory_order_relaxed));
  }
  return n;
}
