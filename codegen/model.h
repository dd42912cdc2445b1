/* protoc-gen-cplugin — the model: what to generate for one .proto file, with
 * every name resolved and every rule checked.
 *
 * The emitters only print a model; all decisions (names, errors) are made
 * here. Everything is allocated from the arena passed to cg_model_build;
 * strings marked "borrowed" point into the request.
 */
#ifndef CPLUGIN_CODEGEN_MODEL_H
#define CPLUGIN_CODEGEN_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "alloc.h"
#include "params.h"
#include "request.h"
#include "sbuf.h"

/* A message type as protoc-c names it. */
typedef struct cg_type {
  const char *c_name;     /* "Kv__V1__GetRequest" */
  const char *descriptor; /* "kv__v1__get_request__descriptor" */
} cg_type;

typedef struct cg_method {
  const char *name;      /* "Get" (borrowed) */
  const char *full_name; /* "kv.v1.KVService.Get", for messages */
  const char *lower;     /* protoc-c's lower_snake name: "get" */
  const char *path;      /* "/kv.v1.KVService/Get" */
  const char *ident; /* "cp_kv__v1__kvservice__get": ident + "__method" ... */
  bool server_streaming; /* the server sends a stream of messages */
  bool client_streaming; /* the client does */
  cg_type request;
  cg_type response;
  const char *comment; /* leading .proto comment or NULL (borrowed) */
} cg_method;

typedef struct cg_service {
  const char *name;        /* "KVService" (borrowed) */
  const char *full_name;   /* "kv.v1.KVService" */
  const char *path;        /* "/kv.v1.KVService/" */
  const char *ident;       /* "cp_kv__v1__kvservice" */
  const char *plugin_name; /* "kv" */
  const char *comment;     /* leading .proto comment or NULL (borrowed) */
  size_t method_count;
  cg_method *methods;
} cg_service;

typedef struct cg_file {
  const char *proto_name; /* "kv/v1/kv.proto" (borrowed) */
  const char *stem;       /* "kv/v1/kv" */
  const char *guard;      /* include guard of the generated header */
  const char *version;    /* plugin version for every service */
  size_t service_count;
  cg_service *services;
} cg_file;

/* Builds the model of `file` (a file to generate). Returns true and sets
 * *out (NULL when the file has no services: nothing is generated for it), or
 * false with a message in `err` naming the offending element. */
bool cg_model_build(const cg_request *req, const cg_file_proto *file,
                    const cg_params *params, cg_arena *arena, cg_file **out,
                    cg_sbuf *err);

/* Checks that no file of the request makes protoc-c emit identifiers that
 * start with "cp_" (the generator's own prefix): a package whose protoc-c
 * lower-case name is "cp" or starts with "cp_" (or, without a package, such a
 * top-level name). Returns false with a message in `err`. */
bool cg_model_check_reserved(const cg_request *req, cg_arena *arena,
                             cg_sbuf *err);

/* Checks that the global identifiers generated for `files` are pairwise
 * distinct (they could clash only where protoc-c's own names clash, but the
 * message is clearer coming from here). Returns false with a message in
 * `err`. */
bool cg_model_check_unique(cg_file *const *files, size_t count, cg_sbuf *err);

#endif /* CPLUGIN_CODEGEN_MODEL_H */
