/* protoc-gen-cplugin — one run. */
#include "generator.h"

#include <stdbool.h>

#include "emit_header.h"
#include "emit_source.h"
#include "model.h"
#include "params.h"
#include "request.h"
#include "sbuf.h"

typedef Google__Protobuf__Compiler__CodeGeneratorResponse__File cg_out_file;

/* Builds the models of the files to generate; files without services are
 * left out. Returns false with a message in `err`. */
static bool cg_build_models(const cg_request *req, const cg_params *params,
                            cg_arena *arena, cg_file **models, size_t *count,
                            cg_sbuf *err) {
  *count = 0;
  for (size_t i = 0; i < req->n_file_to_generate; i++) {
    const char *name = req->file_to_generate[i];
    const cg_file_proto *file = cg_request_find_file(req, name);
    if (file == NULL) {
      cg_sbuf_printf(
          err, "%s: listed in file_to_generate but not in proto_file", name);
      return false;
    }
    cg_file *model = NULL;
    if (!cg_model_build(req, file, params, arena, &model, err)) {
      return false;
    }
    if (model != NULL) {
      models[(*count)++] = model;
    }
  }
  return true;
}

/* Adds one generated file to the response. */
static void cg_add_output(cg_response *resp, cg_arena *arena, const char *name,
                          const cg_sbuf *content) {
  cg_out_file *file = cg_arena_alloc(arena, sizeof(*file));
  google__protobuf__compiler__code_generator_response__file__init(file);
  file->name = cg_arena_strdup(arena, name);
  file->content = cg_sbuf_to_arena(content, arena);
  resp->file[resp->n_file++] = file;
}

static void cg_emit_model(const cg_file *model, cg_arena *arena,
                          cg_response *resp) {
  cg_sbuf content;
  cg_sbuf_init(&content);
  cg_emit_header(model, arena, &content);
  cg_add_output(resp, arena,
                cg_arena_printf(arena, "%s.cplugin.h", model->stem), &content);
  cg_sbuf_reset(&content);
  cg_emit_source(model, arena, &content);
  cg_add_output(resp, arena,
                cg_arena_printf(arena, "%s.cplugin.c", model->stem), &content);
  cg_sbuf_free(&content);
}

/* Everything that can fail, before any output is produced. */
static bool cg_prepare(const cg_request *req, cg_arena *arena, cg_file **models,
                       size_t *count, cg_sbuf *err) {
  cg_params params;
  if (!cg_params_parse(&params, req->parameter, arena, err)) {
    return false;
  }
  if (!cg_build_models(req, &params, arena, models, count, err)) {
    return false;
  }
  if (*count == 0) {
    return true;
  }
  return cg_model_check_reserved(req, arena, err) &&
         cg_model_check_unique(models, *count, err);
}

void cg_generate(const cg_request *req, cg_arena *arena, cg_response *resp) {
  cg_file **models =
      cg_arena_alloc_array(arena, req->n_file_to_generate, sizeof(cg_file *));
  size_t count = 0;
  cg_sbuf err;
  cg_sbuf_init(&err);
  if (!cg_prepare(req, arena, models, &count, &err)) {
    resp->error = cg_sbuf_to_arena(&err, arena);
    cg_sbuf_free(&err);
    return;
  }
  cg_sbuf_free(&err);
  resp->file = cg_arena_alloc_array(arena, 2 * count, sizeof(cg_out_file *));
  for (size_t i = 0; i < count; i++) {
    cg_emit_model(models[i], arena, resp);
  }
}
