/* Sequence-counter primitives for tables that readers search without locks
 * (internal). Writers hold their own mutex and bracket every change with
 * cp_seq_write_begin/end (the counter is odd meanwhile); readers take a
 * snapshot of the counter, read with relaxed atomics, and retry when
 * cp_seq_read_retry says a write overlapped. */
#ifndef CPLUGIN_CORE_SEQLOCK_H
#define CPLUGIN_CORE_SEQLOCK_H

#include <stdbool.h>
#include <stdint.h>

static inline void cp_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static inline void cp_seq_write_begin(uint32_t *seq) {
  uint32_t s = __atomic_load_n(seq, __ATOMIC_RELAXED);
  __atomic_store_n(seq, s + 1, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void cp_seq_write_end(uint32_t *seq) {
  uint32_t s = __atomic_load_n(seq, __ATOMIC_RELAXED);
  __atomic_store_n(seq, s + 1, __ATOMIC_RELEASE);
}

/* Waits out a writer that is inside, and returns the even snapshot. */
static inline uint32_t cp_seq_read_begin(const uint32_t *seq) {
  for (;;) {
    uint32_t s = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
    if ((s & 1U) == 0) {
      return s;
    }
    cp_cpu_relax(); /* writers' sections are short */
  }
}

/* True when a write overlapped the read that began with `snapshot`. */
static inline bool cp_seq_read_retry(const uint32_t *seq, uint32_t snapshot) {
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  return __atomic_load_n(seq, __ATOMIC_RELAXED) != snapshot;
}

#endif /* CPLUGIN_CORE_SEQLOCK_H */
