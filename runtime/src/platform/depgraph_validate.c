/* Dependency graph: what a well-formed plugin declaration is. */
#include <string.h>

#include "core/validate.h"
#include "cplugin/errors.h"
#include "platform/depgraph_internal.h"

static const char *check_id(const char *id) {
  size_t len = id != NULL ? strnlen(id, DEPGRAPH_ID_MAX + 1) : 0;
  if (len == 0) {
    return "cannot be empty";
  }
  if (len > DEPGRAPH_ID_MAX) {
    return "too long";
  }
  if (!cpi_identifier_chars_valid(id, len)) {
    return "contains invalid characters";
  }
  return NULL;
}

static const char *check_optional_version(const char *v) {
  return depgraph_unset(v) ? NULL : cpi_check_version(v);
}

static int refuse(char *msg, size_t cap, const char *id, const char *list,
                  size_t i, const char *field, const char *why) {
  cpi_depgraph_msg(msg, cap, "plugin \"%s\": %s[%zu].%s %s", id, list, i, field,
                   why);
  return CP_EINVAL;
}

/* The id is already valid, so it can appear in messages. */
static int check_provides_list(const depgraph_node *n, char *msg, size_t cap) {
  if (n->provides_count > DEPGRAPH_MAX_PROVIDES) {
    cpi_depgraph_msg(msg, cap, "plugin \"%s\": provides more than %d services",
                     n->id, DEPGRAPH_MAX_PROVIDES);
    return CP_EINVAL;
  }
  if (n->provides_count > 0 && n->provides == NULL) {
    cpi_depgraph_msg(msg, cap, "plugin \"%s\": provides is NULL", n->id);
    return CP_EINVAL;
  }
  for (size_t i = 0; i < n->provides_count; i++) {
    const depgraph_service *s = &n->provides[i];
    const char *why = cpi_check_service_type(s->type);
    if (why != NULL) {
      return refuse(msg, cap, n->id, "provides", i, "type", why);
    }
    why = check_optional_version(s->version);
    if (why != NULL) {
      return refuse(msg, cap, n->id, "provides", i, "version", why);
    }
    for (size_t j = 0; j < i; j++) {
      if (strcmp(n->provides[j].type, s->type) == 0) {
        return refuse(msg, cap, n->id, "provides", i, "type",
                      "repeats an earlier service type");
      }
    }
  }
  return 0;
}

static int check_requires_list(const depgraph_node *n, char *msg, size_t cap) {
  if (n->requires_count > DEPGRAPH_MAX_REQUIRES) {
    cpi_depgraph_msg(msg, cap, "plugin \"%s\": requires more than %d services",
                     n->id, DEPGRAPH_MAX_REQUIRES);
    return CP_EINVAL;
  }
  if (n->requires_count > 0 && n->requires == NULL) {
    cpi_depgraph_msg(msg, cap, "plugin \"%s\": requires is NULL", n->id);
    return CP_EINVAL;
  }
  for (size_t i = 0; i < n->requires_count; i++) {
    const depgraph_dependency *d = &n->requires[i];
    const char *why = cpi_check_service_type(d->type);
    if (why != NULL) {
      return refuse(msg, cap, n->id, "requires", i, "type", why);
    }
    why = check_optional_version(d->min_version);
    if (why != NULL) {
      return refuse(msg, cap, n->id, "requires", i, "min_version", why);
    }
    for (size_t j = 0; j < i; j++) {
      if (strcmp(n->requires[j].type, d->type) == 0) {
        return refuse(msg, cap, n->id, "requires", i, "type",
                      "repeats an earlier service type");
      }
    }
  }
  return 0;
}

int cpi_depgraph_check_node(const depgraph_node *n, char *msg, size_t cap) {
  const char *why = check_id(n->id);
  if (why != NULL) {
    cpi_depgraph_msg(msg, cap, "plugin id %s", why);
    return CP_EINVAL;
  }
  int rc = check_provides_list(n, msg, cap);
  return rc != 0 ? rc : check_requires_list(n, msg, cap);
}
