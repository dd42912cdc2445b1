/* Runtimes the liveness check removed: declared gone, then not heard from
 * for the grace period. Their tokens may still be good. A plugin that was
 * paused that long (SIGSTOP, a debugger, a suspended VM) and resumes keeps
 * reporting health under its identity and, if it watches nothing, would
 * never learn that its registrations are gone. So ReportHealth from a
 * forgotten runtime is answered UNAVAILABLE "runtime is gone", as its
 * watch streams were: the plugin rejoins (renews, registers, watches,
 * reports), as after any lost link.
 *
 * Only removals by liveness are remembered: a runtime the host removed on
 * purpose, or one a restarted successor took over, must not come back. An
 * entry goes as soon as the runtime shows up again in any other way (a
 * registration, a watch, a replica's mirror), or when a successor (same
 * self_id and principal, takeover.c) registers, so that a resumed
 * predecessor does not push it out. The list keeps only the newest
 * REG_FORGOTTEN_MAX, oldest first. All with the write lock held. */
#include <stdlib.h>
#include <string.h>

#include "registry/registry_internal.h"

struct reg_forgotten {
  char *id;
  uint64_t principal_hash;
  bool principal_set;
};

static size_t find(const cp_registry *reg, const char *id) {
  for (size_t i = 0; i < reg->forgotten_count; i++) {
    if (strcmp(reg->forgotten[i].id, id) == 0) {
      return i;
    }
  }
  return reg->forgotten_count;
}

static void remove_at(cp_registry *reg, size_t i) {
  free(reg->forgotten[i].id);
  reg->forgotten_count--;
  memmove(&reg->forgotten[i], &reg->forgotten[i + 1],
          (reg->forgotten_count - i) * sizeof reg->forgotten[0]);
}

void cpi_reg_forget(cp_registry *reg, const rt_entry *rt) {
  if (reg->forgotten == NULL) {
    reg->forgotten = calloc(REG_FORGOTTEN_MAX, sizeof reg->forgotten[0]);
    if (reg->forgotten == NULL) {
      return; /* only the hint is lost: watch streams still tell */
    }
  }
  char *copy = strdup(rt->id);
  if (copy == NULL) {
    return;
  }
  if (reg->forgotten_count == REG_FORGOTTEN_MAX) {
    remove_at(reg, 0);
  }
  reg_forgotten *f = &reg->forgotten[reg->forgotten_count++];
  f->id = copy;
  f->principal_hash = rt->principal_hash;
  f->principal_set = rt->principal_set;
}

bool cpi_reg_forgotten(const cp_registry *reg, const char *id) {
  return find(reg, id) < reg->forgotten_count;
}

void cpi_reg_unforget(cp_registry *reg, const char *id) {
  size_t i = find(reg, id);
  if (i < reg->forgotten_count) {
    remove_at(reg, i);
  }
}

void cpi_reg_unforget_predecessors(cp_registry *reg, const rt_entry *rt,
                                   size_t name_len) {
  for (size_t i = reg->forgotten_count; i-- > 0;) {
    const reg_forgotten *f = &reg->forgotten[i];
    if (cpi_reg_same_plugin(rt, name_len, f->id, strlen(f->id),
                            f->principal_set, f->principal_hash)) {
      remove_at(reg, i);
    }
  }
}

void cpi_reg_forgotten_free(cp_registry *reg) {
  while (reg->forgotten_count > 0) {
    remove_at(reg, reg->forgotten_count - 1);
  }
  free(reg->forgotten);
  reg->forgotten = NULL;
}
