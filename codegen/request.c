/* protoc-gen-cplugin — reading the CodeGeneratorRequest. */
#include "request.h"

#include <string.h>

#include "names.h"

/* protobuf-c/protobuf-c.proto: `extend google.protobuf.FileOptions {
 * optional ProtobufCFileOptions pb_c_file = 1019; }` and, in
 * ProtobufCFileOptions, `optional string c_package = 6;`. */
enum {
  CG_PB_C_FILE_FIELD = 1019,
  CG_C_PACKAGE_FIELD = 6,
};

const cg_file_proto *cg_request_find_file(const cg_request *req,
                                          const char *name) {
  for (size_t i = 0; i < req->n_proto_file; i++) {
    const cg_file_proto *file = req->proto_file[i];
    if (file->name != NULL && strcmp(file->name, name) == 0) {
      return file;
    }
  }
  return NULL;
}

const char *cg_file_package(const cg_file_proto *file) {
  return file->package == NULL ? "" : file->package;
}

/* --- a minimal protobuf wire reader, for the c_package option ------------ */

typedef struct cg_wire {
  const uint8_t *at;
  const uint8_t *end;
} cg_wire;

static bool cg_wire_varint(cg_wire *w, uint64_t *out) {
  uint64_t value = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (w->at == w->end) {
      return false;
    }
    uint8_t byte = *w->at++;
    value |= (uint64_t)(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *out = value;
      return true;
    }
  }
  return false;
}

/* Consumes `n` bytes, pointing *data at them. */
static bool cg_wire_bytes(cg_wire *w, uint64_t n, const uint8_t **data) {
  if (n > (uint64_t)(w->end - w->at)) {
    return false;
  }
  *data = w->at;
  w->at += n;
  return true;
}

/* Skips one field value of wire type `wire_type`; `len` receives the payload
 * of a length-delimited value. Groups are not expected here. */
static bool cg_wire_skip(cg_wire *w, unsigned wire_type, const uint8_t **data,
                         uint64_t *len) {
  uint64_t n = 0;
  switch (wire_type) {
    case 0:
      return cg_wire_varint(w, &n);
    case 1:
      return cg_wire_bytes(w, 8, data);
    case 2:
      if (!cg_wire_varint(w, &n)) {
        return false;
      }
      *len = n;
      return cg_wire_bytes(w, n, data);
    case 5:
      return cg_wire_bytes(w, 4, data);
    default:
      return false;
  }
}

/* Reads c_package from an encoded ProtobufCFileOptions message. A repeated
 * field keeps its last value, as protobuf's merge rules say. */
static bool cg_parse_pb_c_file_options(const uint8_t *data, size_t len,
                                       cg_arena *arena, const char **out) {
  cg_wire w = {data, data + len};
  while (w.at != w.end) {
    uint64_t key = 0;
    if (!cg_wire_varint(&w, &key)) {
      return false;
    }
    const uint8_t *value = NULL;
    uint64_t value_len = 0;
    if (!cg_wire_skip(&w, (unsigned)(key & 7), &value, &value_len)) {
      return false;
    }
    if (key == ((uint64_t)CG_C_PACKAGE_FIELD << 3 | 2)) {
      *out = cg_arena_strndup(arena, (const char *)value, (size_t)value_len);
    }
  }
  return true;
}

/* protobuf-c keeps an unknown length-delimited field with its length prefix:
 * strips and checks that prefix. */
static bool cg_unknown_payload(const ProtobufCMessageUnknownField *field,
                               const uint8_t **data, size_t *len) {
  cg_wire w = {field->data, field->data + field->len};
  uint64_t n = 0;
  if (!cg_wire_varint(&w, &n) || n != (uint64_t)(w.end - w.at)) {
    return false;
  }
  *data = w.at;
  *len = (size_t)n;
  return true;
}

bool cg_file_c_package(const cg_file_proto *file, cg_arena *arena,
                       const char **out, cg_sbuf *err) {
  const char *c_package = NULL;
  const char *name = file->name == NULL ? "?" : file->name;
  if (file->options != NULL) {
    const ProtobufCMessage *options = &file->options->base;
    for (unsigned i = 0; i < options->n_unknown_fields; i++) {
      const ProtobufCMessageUnknownField *field = &options->unknown_fields[i];
      if (field->tag != CG_PB_C_FILE_FIELD) {
        continue;
      }
      const uint8_t *data = NULL;
      size_t len = 0;
      if (field->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED ||
          !cg_unknown_payload(field, &data, &len) ||
          !cg_parse_pb_c_file_options(data, len, arena, &c_package)) {
        cg_sbuf_printf(err, "%s: malformed (pb_c_file) file option", name);
        return false;
      }
    }
  }
  if (c_package == NULL) {
    *out = cg_file_package(file);
    return true;
  }
  if (strlen(c_package) == 0 || !cg_is_package_name(c_package)) {
    cg_sbuf_printf(err,
                   "%s: (pb_c_file).c_package \"%s\" is not a package name",
                   name, c_package);
    return false;
  }
  *out = c_package;
  return true;
}

/* --- message lookup ------------------------------------------------------- */

/* Returns the message named `name` (`len` bytes) among `messages`. */
static const cg_message_proto *cg_find_message_in(
    cg_message_proto *const *messages, size_t count, const char *name,
    size_t len) {
  for (size_t i = 0; i < count; i++) {
    const char *candidate = messages[i]->name;
    if (candidate != NULL && strlen(candidate) == len &&
        memcmp(candidate, name, len) == 0) {
      return messages[i];
    }
  }
  return NULL;
}

/* True when `file` declares the (possibly nested) message `path`
 * ("Outer.Inner"). Walks one component at a time, without recursion. */
static bool cg_file_declares(const cg_file_proto *file, const char *path) {
  cg_message_proto *const *messages = file->message_type;
  size_t count = file->n_message_type;
  const char *p = path;
  for (;;) {
    const char *dot = strchr(p, '.');
    size_t len = dot == NULL ? strlen(p) : (size_t)(dot - p);
    const cg_message_proto *message =
        cg_find_message_in(messages, count, p, len);
    if (message == NULL) {
      return false;
    }
    if (dot == NULL) {
      return true;
    }
    messages = message->nested_type;
    count = message->n_nested_type;
    p = dot + 1;
  }
}

/* If `type_name` (without its leading dot) lies in `package`, returns the
 * part after "package.", else NULL. */
static const char *cg_strip_package(const char *type_name,
                                    const char *package) {
  size_t len = strlen(package);
  if (len == 0) {
    return type_name;
  }
  if (strncmp(type_name, package, len) != 0 || type_name[len] != '.') {
    return NULL;
  }
  return type_name + len + 1;
}

bool cg_request_find_message(const cg_request *req, const char *type_name,
                             cg_arena *arena, cg_message_ref *out) {
  if (type_name == NULL || type_name[0] != '.') {
    return false;
  }
  const char *full = type_name + 1;
  for (size_t i = 0; i < req->n_proto_file; i++) {
    const cg_file_proto *file = req->proto_file[i];
    const char *path = cg_strip_package(full, cg_file_package(file));
    if (path == NULL || !cg_is_package_name(path) || path[0] == '\0') {
      continue;
    }
    if (cg_file_declares(file, path)) {
      out->file = file;
      out->path = cg_arena_strdup(arena, path);
      return true;
    }
  }
  return false;
}

/* --- comments ------------------------------------------------------------- */

static bool cg_path_equals(
    const Google__Protobuf__SourceCodeInfo__Location *loc, const int32_t *path,
    size_t path_len) {
  if (loc->n_path != path_len) {
    return false;
  }
  for (size_t i = 0; i < path_len; i++) {
    if (loc->path[i] != path[i]) {
      return false;
    }
  }
  return true;
}

const char *cg_file_leading_comment(const cg_file_proto *file,
                                    const int32_t *path, size_t path_len) {
  const Google__Protobuf__SourceCodeInfo *info = file->source_code_info;
  if (info == NULL) {
    return NULL;
  }
  for (size_t i = 0; i < info->n_location; i++) {
    const Google__Protobuf__SourceCodeInfo__Location *loc = info->location[i];
    if (cg_path_equals(loc, path, path_len)) {
      return loc->leading_comments;
    }
  }
  return NULL;
}
