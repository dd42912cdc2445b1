/* Reserved address space (internal): tables that grow in place reserve room
 * for their largest size up front, so memory that lock-free readers may
 * touch never moves. Pages are committed on first touch. */
#ifndef CPLUGIN_CORE_RESERVE_H
#define CPLUGIN_CORE_RESERVE_H

#include <stddef.h>

/* `n` rounded up to whole pages. */
size_t cpi_page_round(size_t n);

/* Reserves `bytes` (a multiple of the page size) of zeroed, read-write
 * memory without committing it (MAP_NORESERVE where available). Returns
 * NULL on failure. */
void *cpi_reserve(size_t bytes);

/* Gives back a region from cpi_reserve. NULL allowed. */
void cpi_reserve_release(void *region, size_t bytes);

#endif /* CPLUGIN_CORE_RESERVE_H */
