/* protoc-gen-cplugin — reading the CodeGeneratorRequest: finding files and
 * message types, protoc-c's c_package option, source comments.
 *
 * The request comes from outside (normally protoc, but the plugin must not
 * trust it), so every function here tolerates absent (NULL) strings and
 * malformed values and reports them instead of crashing.
 */
#ifndef CPLUGIN_CODEGEN_REQUEST_H
#define CPLUGIN_CODEGEN_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "google/protobuf/compiler/plugin.pb-c.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "sbuf.h"

typedef Google__Protobuf__Compiler__CodeGeneratorRequest cg_request;
typedef Google__Protobuf__FileDescriptorProto cg_file_proto;
typedef Google__Protobuf__DescriptorProto cg_message_proto;
typedef Google__Protobuf__ServiceDescriptorProto cg_service_proto;
typedef Google__Protobuf__MethodDescriptorProto cg_method_proto;

/* Returns the proto_file entry named `name`, or NULL. */
const cg_file_proto *cg_request_find_file(const cg_request *req,
                                          const char *name);

/* The package of `file`; "" when it has none. */
const char *cg_file_package(const cg_file_proto *file);

/* The package protoc-c uses for C names of `file`'s declarations: the
 * (pb_c_file).c_package option of protobuf-c/protobuf-c.proto when set,
 * else the file's package. Sets *out (owned by `arena` or by the request).
 * Returns false with a message in `err` when the option is malformed. */
bool cg_file_c_package(const cg_file_proto *file, cg_arena *arena,
                       const char **out, cg_sbuf *err);

/* A message type found in the request. */
typedef struct cg_message_ref {
  const cg_file_proto *file; /* the file that declares it */
  const char *path;          /* name within the file: "Outer.Inner" */
} cg_message_ref;

/* Resolves a fully qualified type name (".kv.v1.GetRequest") to the file
 * declaring it. `path` is copied into `arena`. Returns false when no file of
 * the request declares such a message. */
bool cg_request_find_message(const cg_request *req, const char *type_name,
                             cg_arena *arena, cg_message_ref *out);

/* The leading comment attached to the element at `path` (for example
 * {6, i} for service i, {6, i, 2, j} for its method j), or NULL when the
 * file has none or no source info. The string belongs to the request. */
const char *cg_file_leading_comment(const cg_file_proto *file,
                                    const int32_t *path, size_t path_len);

#endif /* CPLUGIN_CODEGEN_REQUEST_H */
