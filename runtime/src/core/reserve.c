/* Reserved address space (core/reserve.h). */
#include "core/reserve.h"

#include <sys/mman.h>
#include <unistd.h>

size_t cpi_page_round(size_t n) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  return (n + page - 1) / page * page;
}

void *cpi_reserve(size_t bytes) {
  int flags = MAP_PRIVATE | MAP_ANONYMOUS;
#ifdef MAP_NORESERVE
  flags |= MAP_NORESERVE; /* address space only; pages come on first touch */
#endif
  void *region = mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
  return region == MAP_FAILED ? NULL : region;
}

void cpi_reserve_release(void *region, size_t bytes) {
  if (region != NULL) {
    munmap(region, bytes);
  }
}
