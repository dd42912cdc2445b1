/* protoc-gen-cplugin — the model. */
#include "model.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

/* SourceCodeInfo paths: FileDescriptorProto.service = 6,
 * ServiceDescriptorProto.method = 2. */
enum {
  CG_PATH_FILE_SERVICE = 6,
  CG_PATH_SERVICE_METHOD = 2,
};

/* Shared state while building one file's model. */
typedef struct cg_builder {
  const cg_request *req;
  const cg_file_proto *file;
  const char *package;   /* the .proto package, "" when none */
  const char *c_package; /* the package protoc-c uses in C names */
  cg_arena *arena;
  cg_sbuf *err;
} cg_builder;

/* Joins "a" and "b" with `sep`, or returns "b" when "a" is empty. */
static char *cg_join(cg_arena *arena, const char *a, const char *sep,
                     const char *b) {
  cg_sbuf sb;
  cg_sbuf_init(&sb);
  if (a[0] != '\0') {
    cg_sbuf_puts(&sb, a);
    cg_sbuf_puts(&sb, sep);
  }
  cg_sbuf_puts(&sb, b);
  char *joined = cg_sbuf_to_arena(&sb, arena);
  cg_sbuf_free(&sb);
  return joined;
}

/* Applies a naming function to `name` and copies the result into `arena`. */
static char *cg_convert(cg_arena *arena,
                        void (*convert)(cg_sbuf *, const char *),
                        const char *name) {
  cg_sbuf sb;
  cg_sbuf_init(&sb);
  convert(&sb, name);
  char *converted = cg_sbuf_to_arena(&sb, arena);
  cg_sbuf_free(&sb);
  return converted;
}

/* Resolves a method's request or response type to protoc-c's names. */
static bool cg_resolve_type(cg_builder *b, const cg_method *method,
                            const char *role, const char *type_name,
                            cg_type *out) {
  cg_message_ref ref;
  if (!cg_request_find_message(b->req, type_name, b->arena, &ref)) {
    cg_sbuf_printf(b->err, "%s: %s type \"%s\" is not a message in the request",
                   method->full_name, role, type_name == NULL ? "" : type_name);
    return false;
  }
  const char *c_package = NULL;
  if (!cg_file_c_package(ref.file, b->arena, &c_package, b->err)) {
    return false;
  }
  const char *c_full = cg_join(b->arena, c_package, ".", ref.path);
  out->c_name = cg_convert(b->arena, cg_full_name_to_c, c_full);
  const char *lower = cg_convert(b->arena, cg_full_name_to_lower, c_full);
  out->descriptor = cg_arena_printf(b->arena, "%s__descriptor", lower);
  return true;
}

static bool cg_build_method(cg_builder *b, const cg_service *service,
                            const cg_method_proto *proto, int32_t service_index,
                            int32_t method_index, cg_method *out) {
  if (proto->name == NULL || !cg_is_identifier(proto->name)) {
    cg_sbuf_printf(b->err, "%s: method %d has no valid name",
                   service->full_name, (int)method_index);
    return false;
  }
  out->name = proto->name;
  out->full_name = cg_join(b->arena, service->full_name, ".", proto->name);
  out->server_streaming =
      proto->has_server_streaming && proto->server_streaming;
  out->client_streaming =
      proto->has_client_streaming && proto->client_streaming;
  if (!cg_resolve_type(b, out, "request", proto->input_type, &out->request) ||
      !cg_resolve_type(b, out, "response", proto->output_type,
                       &out->response)) {
    return false;
  }
  out->lower = cg_convert(b->arena, cg_camel_to_lower, proto->name);
  out->path = cg_arena_printf(b->arena, "%s%s", service->path, proto->name);
  out->ident = cg_arena_printf(b->arena, "%s__%s", service->ident, out->lower);
  const int32_t path[] = {CG_PATH_FILE_SERVICE, service_index,
                          CG_PATH_SERVICE_METHOD, method_index};
  out->comment = cg_file_leading_comment(b->file, path, 4);
  return true;
}

/* An identifier and where it comes from, for duplicate checks. */
typedef struct cg_named {
  const char *name;
  const char *origin; /* full .proto name of the element */
  size_t index;       /* position, so sorting is deterministic */
} cg_named;

static int cg_named_compare(const void *a, const void *b) {
  const cg_named *x = a;
  const cg_named *y = b;
  int order = strcmp(x->name, y->name);
  if (order != 0) {
    return order;
  }
  return x->index < y->index ? -1 : (x->index > y->index ? 1 : 0);
}

/* Sorts `items` and returns the first of two adjacent equal names (the one
 * declared first), or NULL when all names are distinct. */
static const cg_named *cg_find_duplicate(cg_named *items, size_t count) {
  if (count < 2) {
    return NULL;
  }
  qsort(items, count, sizeof(*items), cg_named_compare);
  for (size_t i = 1; i < count; i++) {
    if (strcmp(items[i - 1].name, items[i].name) == 0) {
      return &items[i - 1];
    }
  }
  return NULL;
}

/* Two methods whose protoc-c lower-case names are equal would get the same
 * C names (and the same member in protoc-c's own service struct). */
static bool cg_check_method_names(cg_builder *b, const cg_service *service) {
  cg_named *items = cg_xmalloc_array(service->method_count, sizeof(*items));
  for (size_t i = 0; i < service->method_count; i++) {
    items[i].name = service->methods[i].lower;
    items[i].origin = service->methods[i].full_name;
    items[i].index = i;
  }
  const cg_named *dup = cg_find_duplicate(items, service->method_count);
  if (dup != NULL) {
    cg_sbuf_printf(b->err,
                   "%s: method name collides with %s (both become \"%s\" in C)",
                   dup[1].origin, dup[0].origin, dup->name);
  }
  free(items);
  return dup == NULL;
}

static bool cg_build_service(cg_builder *b, const cg_service_proto *proto,
                             int32_t index, cg_service *out) {
  if (proto->name == NULL || !cg_is_identifier(proto->name)) {
    cg_sbuf_printf(b->err, "%s: service %d has no valid name", b->file->name,
                   (int)index);
    return false;
  }
  out->name = proto->name;
  out->full_name = cg_join(b->arena, b->package, ".", proto->name);
  out->path = cg_arena_printf(b->arena, "/%s/", out->full_name);
  const char *c_full = cg_join(b->arena, b->c_package, ".", proto->name);
  const char *lower = cg_convert(b->arena, cg_full_name_to_lower, c_full);
  out->ident = cg_arena_printf(b->arena, "cp_%s", lower);
  out->plugin_name = cg_plugin_name(b->arena, proto->name);
  const int32_t path[] = {CG_PATH_FILE_SERVICE, index};
  out->comment = cg_file_leading_comment(b->file, path, 2);
  if (proto->n_method > INT32_MAX) {
    cg_sbuf_printf(b->err, "%s: too many methods", out->full_name);
    return false;
  }
  out->method_count = proto->n_method;
  out->methods =
      cg_arena_alloc_array(b->arena, proto->n_method, sizeof(cg_method));
  for (size_t j = 0; j < proto->n_method; j++) {
    if (!cg_build_method(b, out, proto->method[j], index, (int32_t)j,
                         &out->methods[j])) {
      return false;
    }
  }
  return cg_check_method_names(b, out);
}

/* Checks the file's name and package and finds its C package. */
static bool cg_check_file(cg_builder *b) {
  const char *name = b->file->name;
  if (!cg_is_safe_file_name(name)) {
    cg_sbuf_printf(
        b->err,
        "%s: file name not supported (it must be relative, printable "
        "ASCII, without '\"', '\\\\', '?' or \"..\")",
        name);
    return false;
  }
  if (!cg_is_package_name(b->package)) {
    cg_sbuf_printf(b->err, "%s: invalid package \"%s\"", name, b->package);
    return false;
  }
  return cg_file_c_package(b->file, b->arena, &b->c_package, b->err);
}

bool cg_model_build(const cg_request *req, const cg_file_proto *file,
                    const cg_params *params, cg_arena *arena, cg_file **out,
                    cg_sbuf *err) {
  *out = NULL;
  if (file->n_service == 0) {
    return true; /* nothing to generate, so nothing to check */
  }
  cg_builder b = {req, file, cg_file_package(file), NULL, arena, err};
  if (!cg_check_file(&b)) {
    return false;
  }
  if (file->n_service > INT32_MAX) {
    cg_sbuf_printf(err, "%s: too many services", file->name);
    return false;
  }
  cg_file *model = cg_arena_alloc(arena, sizeof(*model));
  model->proto_name = file->name;
  model->stem = cg_file_stem(arena, file->name);
  model->guard = cg_include_guard(arena, file->name);
  model->version = params->version;
  model->service_count = file->n_service;
  model->services =
      cg_arena_alloc_array(arena, file->n_service, sizeof(cg_service));
  for (size_t i = 0; i < file->n_service; i++) {
    if (!cg_build_service(&b, file->service[i], (int32_t)i,
                          &model->services[i])) {
      return false;
    }
  }
  *out = model;
  return true;
}

/* --- reserved names ------------------------------------------------------- */

/* Reports `name` (a top-level declaration of a file without package, or a
 * package) when protoc-c's lower-case form of it is reserved. */
static bool cg_check_not_reserved(const char *file_name, const char *what,
                                  const char *name, cg_arena *arena,
                                  cg_sbuf *err) {
  if (name == NULL) {
    return true;
  }
  const char *lower = cg_convert(arena, cg_full_name_to_lower, name);
  if (!cg_lower_name_is_reserved(lower)) {
    return true;
  }
  cg_sbuf_printf(err,
                 "%s: %s \"%s\" is not supported: protoc-c would name C "
                 "identifiers \"%s__...\", and names starting with \"cp_\" "
                 "belong to cplugin",
                 file_name, what, name, lower);
  return false;
}

/* Without a package, protoc-c's identifiers start with the top-level names. */
static bool cg_check_top_level(const cg_file_proto *file, cg_arena *arena,
                               cg_sbuf *err) {
  const char *name = file->name == NULL ? "?" : file->name;
  for (size_t i = 0; i < file->n_message_type; i++) {
    if (!cg_check_not_reserved(name, "message", file->message_type[i]->name,
                               arena, err)) {
      return false;
    }
  }
  for (size_t i = 0; i < file->n_enum_type; i++) {
    if (!cg_check_not_reserved(name, "enum", file->enum_type[i]->name, arena,
                               err)) {
      return false;
    }
  }
  for (size_t i = 0; i < file->n_service; i++) {
    if (!cg_check_not_reserved(name, "service", file->service[i]->name, arena,
                               err)) {
      return false;
    }
  }
  for (size_t i = 0; i < file->n_extension; i++) {
    if (!cg_check_not_reserved(name, "extension", file->extension[i]->name,
                               arena, err)) {
      return false;
    }
  }
  return true;
}

bool cg_model_check_reserved(const cg_request *req, cg_arena *arena,
                             cg_sbuf *err) {
  for (size_t i = 0; i < req->n_proto_file; i++) {
    const cg_file_proto *file = req->proto_file[i];
    const char *c_package = NULL;
    if (!cg_file_c_package(file, arena, &c_package, err)) {
      return false;
    }
    const char *name = file->name == NULL ? "?" : file->name;
    bool ok =
        c_package[0] == '\0'
            ? cg_check_top_level(file, arena, err)
            : cg_check_not_reserved(name, "package", c_package, arena, err);
    if (!ok) {
      return false;
    }
  }
  return true;
}

/* --- uniqueness across files ---------------------------------------------- */

/* Fills `items` with the identifier prefixes of every service (methods ==
 * false) or every method (methods == true) of `files`; returns the count. */
static size_t cg_collect(cg_file *const *files, size_t count, bool methods,
                         cg_named *items) {
  size_t n = 0;
  for (size_t f = 0; f < count; f++) {
    for (size_t s = 0; s < files[f]->service_count; s++) {
      const cg_service *service = &files[f]->services[s];
      if (!methods) {
        items[n] = (cg_named){service->ident, service->full_name, n};
        n++;
        continue;
      }
      for (size_t m = 0; m < service->method_count; m++) {
        const cg_method *method = &service->methods[m];
        items[n] = (cg_named){method->ident, method->full_name, n};
        n++;
      }
    }
  }
  return n;
}

/* Counts services and methods of `files`. */
static size_t cg_count_elements(cg_file *const *files, size_t count) {
  size_t n = 0;
  for (size_t f = 0; f < count; f++) {
    for (size_t s = 0; s < files[f]->service_count; s++) {
      n += 1 + files[f]->services[s].method_count;
    }
  }
  return n;
}

/* Every generated global name is a service or method prefix followed by
 * "__" and a fixed word; service words and method words differ, so names are
 * distinct when the service prefixes are distinct and the method prefixes
 * are. */
bool cg_model_check_unique(cg_file *const *files, size_t count, cg_sbuf *err) {
  size_t total = cg_count_elements(files, count);
  cg_named *items = cg_xmalloc_array(total, sizeof(*items));
  bool ok = true;
  for (int pass = 0; pass < 2 && ok; pass++) {
    size_t n = cg_collect(files, count, pass == 1, items);
    const cg_named *dup = cg_find_duplicate(items, n);
    if (dup != NULL) {
      cg_sbuf_printf(err,
                     "%s and %s get the same C names (\"%s__...\"), as they "
                     "do in protoc-c's output",
                     dup[0].origin, dup[1].origin, dup->name);
      ok = false;
    }
  }
  free(items);
  return ok;
}
