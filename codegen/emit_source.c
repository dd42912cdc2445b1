/* protoc-gen-cplugin — the generated source.
 *
 * Only the register function and the client stubs have external linkage
 * (their prototypes are in the header); the invokers are static, so the
 * output compiles cleanly with -Wmissing-prototypes.
 */
#include "emit_source.h"

#include <string.h>

#include "comment.h"
#include "emit.h"
#include "emit_duplex.h"
#include "emit_stream_async.h"

static void cg_emit_file_comment(const cg_file *file, cg_sbuf *out) {
  cg_comment comment;
  cg_comment_init(&comment);
  cg_banner(&comment, file);
  cg_comment_emit(&comment, out, "");
  cg_comment_free(&comment);
}

static void cg_emit_invoker(const cg_method *method, cg_arena *arena,
                            cg_sbuf *out) {
  cg_signature sig;
  sig.head =
      cg_arena_printf(arena, "static cp_status_code %s__invoke", method->ident);
  sig.params[0] = "cp_generic_fn handler";
  sig.params[1] = "cp_call *call";
  if (method->client_streaming) {
    sig.params[2] = "cp_stream *stream";
    sig.params[3] = "void *user";
    sig.count = 4;
  } else {
    sig.params[2] = "const ProtobufCMessage *req";
    sig.params[3] = method->server_streaming ? "cp_stream *stream"
                                             : "ProtobufCMessage *resp";
    sig.params[4] = "void *user";
    sig.count = 5;
  }
  cg_sbuf_putc(out, '\n');
  cg_emit_signature(out, "", &sig, " {");
  /* The handler was stored from a handler-table member, whose type is the
   * header's __handler_fn: converting back to that type is defined C. */
  size_t width = 2 * strlen(method->ident) +
                 strlen("  __handler_fn fn = (__handler_fn)handler;");
  const char *wrap = width > CG_LINE_WIDTH ? "\n     " : "";
  cg_sbuf_printf(out, "  %s__handler_fn fn =%s (%s__handler_fn)handler;\n",
                 method->ident, wrap, method->ident);
  cg_signature call;
  call.head = "return fn";
  call.params[0] = "call";
  if (method->client_streaming) {
    call.params[1] = "stream";
    call.params[2] = "user";
    call.count = 3;
  } else {
    call.params[1] =
        cg_arena_printf(arena, "(const %s *)req", method->request.c_name);
    call.params[2] =
        method->server_streaming
            ? "stream"
            : cg_arena_printf(arena, "(%s *)resp", method->response.c_name);
    call.params[3] = "user";
    call.count = 4;
  }
  cg_emit_signature(out, "  ", &call, ";");
  cg_sbuf_puts(out, "}\n");
}

static void cg_emit_method_desc(const cg_method *method, cg_sbuf *out) {
  cg_kind kind = cg_method_kind(method);
  cg_sbuf_printf(out,
                 "\nconst cp_method_desc %s__method = {\n"
                 "    .path = \"%s\",\n"
                 "    .name = \"%s\",\n"
                 "    .kind = %s,\n"
                 "    .request_type = &%s,\n"
                 "    .response_type = &%s,\n",
                 method->ident, method->path, method->name,
                 cg_kind_constant(kind), method->request.descriptor,
                 method->response.descriptor);
  if (kind == CG_SERVER_STREAMING) {
    cg_sbuf_printf(out,
                   "    .unary_invoke = NULL,\n"
                   "    .stream_invoke = %s__invoke,\n",
                   method->ident);
  } else if (kind == CG_UNARY) {
    cg_sbuf_printf(out,
                   "    .unary_invoke = %s__invoke,\n"
                   "    .stream_invoke = NULL,\n",
                   method->ident);
  } else {
    cg_sbuf_printf(out,
                   "    .duplex_invoke = %s__invoke,\n"
                   "    .message_invoke = %s__message_invoke,\n",
                   method->ident, method->ident);
  }
  cg_sbuf_puts(out, "};\n");
}

static void cg_emit_service_desc(const cg_service *service, cg_sbuf *out) {
  if (service->method_count > 0) {
    cg_sbuf_printf(out,
                   "\nstatic const cp_method_desc *const %s__methods[] = {\n",
                   service->ident);
    for (size_t i = 0; i < service->method_count; i++) {
      cg_sbuf_printf(out, "    &%s__method,\n", service->methods[i].ident);
    }
    cg_sbuf_puts(out, "};\n");
  }
  cg_sbuf_printf(out,
                 "\nconst cp_service_desc %s__service = {\n"
                 "    .full_name = \"%s\",\n"
                 "    .path = \"%s\",\n"
                 "    .method_count = %zu,\n",
                 service->ident, service->full_name, service->path,
                 service->method_count);
  if (service->method_count > 0) {
    cg_sbuf_printf(out, "    .methods = %s__methods,\n", service->ident);
  } else {
    cg_sbuf_puts(out, "    .methods = NULL,\n");
  }
  cg_sbuf_puts(out, "};\n");
}

static void cg_emit_plugin_desc(const cg_file *file, const cg_service *service,
                                cg_sbuf *out) {
  cg_sbuf_printf(out,
                 "\nconst cp_plugin_desc %s__plugin = {\n"
                 "    .name = \"%s\",\n"
                 "    .version = \"%s\",\n"
                 "    .service_path = \"%s\",\n"
                 "    .service = &%s__service,\n"
                 "};\n",
                 service->ident, service->plugin_name, file->version,
                 service->path, service->ident);
}

/* One entry of the register function's batch, for a non-NULL handler. */
static void cg_emit_register_one(const cg_method *method, cg_sbuf *out) {
  cg_sbuf_printf(
      out,
      "  if (handlers->on_%s != NULL) {\n"
      "    entries[count].method = &%s__method;\n"
      "    entries[count].handler = (cp_generic_fn)handlers->on_%s;\n"
      "    entries[count++].user = user;\n"
      "  }\n",
      method->lower, method->ident, method->lower);
}

/* The whole service in one cp_server_add_methods call: all or nothing. */
static void cg_emit_register(const cg_service *service, cg_arena *arena,
                             cg_sbuf *out) {
  cg_signature sig;
  cg_register_signature(service, arena, &sig);
  cg_sbuf_putc(out, '\n');
  cg_emit_signature(out, "", &sig, " {");
  cg_sbuf_puts(out,
               "  if (server == NULL || handlers == NULL) {\n"
               "    return CP_EINVAL;\n"
               "  }\n");
  if (service->method_count == 0) {
    cg_sbuf_puts(out, "  (void)user;\n  return 0;\n}\n");
    return;
  }
  cg_sbuf_printf(out,
                 "  cp_method_entry entries[%zu];\n"
                 "  size_t count = 0;\n",
                 service->method_count);
  for (size_t i = 0; i < service->method_count; i++) {
    cg_emit_register_one(&service->methods[i], out);
  }
  cg_sbuf_puts(out,
               "  return cp_server_add_methods(server, entries, count);\n}\n");
}

static void cg_emit_unary_stub(const cg_method *method, cg_arena *arena,
                               cg_sbuf *out) {
  cg_signature sig;
  cg_call_signature(method, arena, &sig);
  cg_sbuf_putc(out, '\n');
  cg_emit_signature(out, "", &sig, " {");
  /* Converting `resp` to ProtobufCMessage ** would access the typed
   * pointer through another type; a local pointer assigned afterwards does
   * not. */
  cg_sbuf_puts(out, "  ProtobufCMessage *msg = NULL;\n");
  cg_signature call;
  call.head = "int rc = cp_client_unary";
  call.params[0] = "client";
  call.params[1] = cg_arena_printf(arena, "&%s__method", method->ident);
  call.params[2] = "(const ProtobufCMessage *)req";
  call.params[3] = "resp == NULL ? NULL : &msg";
  call.params[4] = "opts";
  call.params[5] = "status";
  call.count = 6;
  cg_emit_signature(out, "  ", &call, ";");
  cg_sbuf_printf(out,
                 "  if (resp != NULL) {\n"
                 "    *resp = (%s *)msg;\n"
                 "  }\n"
                 "  return rc;\n"
                 "}\n",
                 method->response.c_name);
}

static void cg_emit_reply(const cg_method *method, cg_arena *arena,
                          cg_sbuf *out) {
  cg_signature sig;
  cg_reply_signature(method, arena, &sig);
  cg_sbuf_putc(out, '\n');
  cg_emit_signature(out, "", &sig, " {");
  cg_sbuf_puts(out, method->client_streaming
                        ? "  return cp_stream_reply(stream, (const "
                          "ProtobufCMessage *)resp);\n"
                          "}\n"
                        : "  return cp_unary_reply_send(reply, (const "
                          "ProtobufCMessage *)resp);\n"
                          "}\n");
}

/* The asynchronous stub: the typed callback travels type-erased with an
 * invoker that converts it back (as handlers do), so the runtime lends the
 * response and frees it, and the stub allocates nothing. */
static void cg_emit_unary_async_stub(const cg_method *method, cg_arena *arena,
                                     cg_sbuf *out) {
  cg_signature inv;
  inv.head =
      cg_arena_printf(arena, "static void %s__invoke_done", method->ident);
  inv.params[0] = "cp_generic_fn done";
  inv.params[1] = "const cp_status *status";
  inv.params[2] = "const ProtobufCMessage *resp";
  inv.params[3] = "void *user";
  inv.count = 4;
  cg_sbuf_putc(out, '\n');
  cg_emit_signature(out, "", &inv, " {");
  cg_signature call;
  call.head = cg_arena_printf(arena, "((%s__done_fn)done)", method->ident);
  call.params[0] = "status";
  call.params[1] =
      cg_arena_printf(arena, "(const %s *)resp", method->response.c_name);
  call.params[2] = "user";
  call.count = 3;
  cg_emit_signature(out, "  ", &call, ";");
  cg_sbuf_puts(out, "}\n");
  cg_signature sig;
  cg_call_async_signature(method, arena, &sig);
  cg_sbuf_putc(out, '\n');
  cg_emit_signature(out, "", &sig, " {");
  call.head = "return cp_client_unary_async_typed";
  call.params[0] = "client";
  call.params[1] = cg_arena_printf(arena, "&%s__method", method->ident);
  call.params[2] = "(const ProtobufCMessage *)req";
  call.params[3] = "opts";
  call.params[4] = cg_arena_printf(arena, "%s__invoke_done", method->ident);
  call.params[5] = "(cp_generic_fn)done";
  call.params[6] = "user";
  call.count = 7;
  cg_emit_signature(out, "  ", &call, ";");
  cg_sbuf_puts(out, "}\n");
}

static void cg_emit_start_stub(const cg_method *method, cg_arena *arena,
                               cg_sbuf *out) {
  cg_signature sig;
  cg_start_signature(method, arena, &sig);
  cg_sbuf_putc(out, '\n');
  cg_emit_signature(out, "", &sig, " {");
  cg_signature call;
  call.head = "return cp_client_stream_start";
  call.params[0] = "client";
  call.params[1] = cg_arena_printf(arena, "&%s__method", method->ident);
  call.params[2] = "(const ProtobufCMessage *)req";
  call.params[3] = "opts";
  call.params[4] = "out";
  call.params[5] = "status";
  call.count = 6;
  cg_emit_signature(out, "  ", &call, ";");
  cg_sbuf_puts(out, "}\n");
}

static void cg_emit_next_stub(const cg_method *method, cg_arena *arena,
                              cg_sbuf *out) {
  cg_signature sig;
  cg_next_signature(method, arena, &sig);
  cg_sbuf_putc(out, '\n');
  cg_emit_signature(out, "", &sig, " {");
  cg_sbuf_printf(
      out,
      "  ProtobufCMessage *raw = NULL;\n"
      "  int rc = cp_client_stream_next(stream, msg == NULL ? NULL : &raw, "
      "status);\n"
      "  if (rc == 0 && raw != NULL &&\n"
      "      raw->descriptor != &%s) {\n"
      "    /* The stream belongs to another method: never hand out a "
      "mistyped\n"
      "     * message. */\n"
      "    protobuf_c_message_free_unpacked(raw, NULL);\n"
      "    raw = NULL;\n"
      "    rc = CP_EINVAL;\n"
      "  }\n"
      "  if (msg != NULL) {\n"
      "    *msg = (%s *)raw;\n"
      "  }\n"
      "  return rc;\n"
      "}\n",
      method->response.descriptor, method->response.c_name);
}

static void cg_emit_service(const cg_file *file, const cg_service *service,
                            cg_arena *arena, cg_sbuf *out) {
  cg_sbuf_putc(out, '\n');
  cg_emit_rule(out, service->full_name);
  for (size_t i = 0; i < service->method_count; i++) {
    cg_emit_invoker(&service->methods[i], arena, out);
    if (service->methods[i].client_streaming) {
      cg_emit_message_invoker(&service->methods[i], arena, out);
    }
  }
  for (size_t i = 0; i < service->method_count; i++) {
    cg_emit_method_desc(&service->methods[i], out);
  }
  cg_emit_service_desc(service, out);
  cg_emit_plugin_desc(file, service, out);
  cg_emit_register(service, arena, out);
  for (size_t i = 0; i < service->method_count; i++) {
    if (!service->methods[i].server_streaming) {
      cg_emit_reply(&service->methods[i], arena, out);
    }
  }
  for (size_t i = 0; i < service->method_count; i++) {
    const cg_method *method = &service->methods[i];
    switch (cg_method_kind(method)) {
      case CG_UNARY:
        cg_emit_unary_stub(method, arena, out);
        cg_emit_unary_async_stub(method, arena, out);
        break;
      case CG_SERVER_STREAMING:
        cg_emit_write_def(method, arena, out);
        cg_emit_start_stub(method, arena, out);
        cg_emit_next_stub(method, arena, out);
        cg_emit_stream_async_defs(method, arena, out);
        break;
      case CG_CLIENT_STREAMING:
        cg_emit_duplex_defs(method, arena, out);
        cg_emit_stream_async_defs(method, arena, out);
        break;
      case CG_BIDI_STREAMING:
        cg_emit_duplex_defs(method, arena, out);
        cg_emit_next_stub(method, arena, out);
        cg_emit_stream_async_defs(method, arena, out);
        break;
    }
  }
}

void cg_emit_source(const cg_file *file, cg_arena *arena, cg_sbuf *out) {
  cg_emit_file_comment(file, out);
  cg_sbuf_printf(out,
                 "\n"
                 "#include \"%s.cplugin.h\"\n"
                 "\n"
                 "#include <stddef.h>\n"
                 "\n"
                 "#include <cplugin/errors.h>\n",
                 file->stem);
  for (size_t i = 0; i < file->service_count; i++) {
    cg_emit_service(file, &file->services[i], arena, out);
  }
}
