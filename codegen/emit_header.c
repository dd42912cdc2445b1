/* protoc-gen-cplugin — the generated header. */
#include "emit_header.h"

#include <stdbool.h>

#include "comment.h"
#include "emit.h"
#include "emit_duplex.h"
#include "emit_stream_async.h"

/* The naming scheme, repeated in every header so that a reader of generated
 * code finds it without looking for the generator's documentation. */
static const char cg_naming_intro[] =
    "Every name here is \"cp_\" + P + \"__\" + a fixed word. P is protoc-c's "
    "lower-case name of the service: package and service name, CamelCase "
    "turned into lower_snake, joined by \"__\" (kv.v1.KVService -> "
    "kv__v1__kvservice). <m> is protoc-c's lower_snake name of a method "
    "(GetPluginInfo -> get_plugin_info).";

static const char *const cg_naming_table[] = {
    "  cp_P__service      service descriptor (cp_service_desc)",
    "  cp_P__plugin       plugin descriptor for the handshake (cp_plugin_desc)",
    "  cp_P__<m>__handler_fn  the type of a method's handler",
    "  cp_P__handlers     typed handler table",
    "  cp_P__register     registers the non-NULL handlers on a cp_server",
    "  cp_P__<m>__method  method descriptor (cp_method_desc)",
    "  cp_P__<m>__reply   answers a deferred unary call or a client-streaming",
    "                     call (typed)",
    "  cp_P__<m>__read    delivers the messages of a client that streams",
    "  cp_P__<m>__write   writes one message of a server stream (typed)",
    "  cp_P__<m>__call    client stub of a unary method",
    "  cp_P__<m>__call_async  the same without waiting: the outcome goes to",
    "                         a typed callback, a cp_P__<m>__done_fn",
    "  cp_P__<m>__start   client stub that starts a server-streaming method",
    "  cp_P__<m>__next    reads the next message of such a stream",
    "  cp_P__<m>__start_async  the same without blocking: each message, then",
    "                          the end, goes to a typed cp_P__<m>__next_fn",
    "  cp_P__<m>__open    client stub that opens a client-streaming or",
    "                     bidirectional method; __send sends one message,",
    "                     __finish half-closes and returns the one response",
    "  cp_P__<m>__open_async  opens without blocking; the responses go to a",
    "                         cp_P__<m>__next_fn (bidirectional) or the one",
    "                         response to a cp_P__<m>__done_fn",
};

static const char cg_naming_outro[] =
    "protoc-c's own identifiers never start with \"cp_\" (protoc-gen-cplugin "
    "rejects packages for which they would), so the two sets cannot collide.";

static void cg_emit_file_comment(const cg_file *file, cg_sbuf *out) {
  cg_comment comment;
  cg_comment_init(&comment);
  cg_banner(&comment, file);
  cg_comment_add_break(&comment);
  cg_comment_add_wrapped(&comment, cg_naming_intro, CG_COMMENT_WIDTH(""));
  size_t rows = sizeof(cg_naming_table) / sizeof(cg_naming_table[0]);
  for (size_t i = 0; i < rows; i++) {
    cg_comment_add_line(&comment, cg_naming_table[i]);
  }
  cg_comment_add_wrapped(&comment, cg_naming_outro, CG_COMMENT_WIDTH(""));
  cg_comment_emit(&comment, out, "");
  cg_comment_free(&comment);
}

static void cg_emit_descriptors(const cg_file *file, const cg_service *service,
                                cg_sbuf *out) {
  if (service->method_count > 0) {
    cg_sbuf_printf(out, "/* Method descriptors of %s. */\n",
                   service->full_name);
    for (size_t i = 0; i < service->method_count; i++) {
      cg_sbuf_printf(out, "extern const cp_method_desc %s__method;\n",
                     service->methods[i].ident);
    }
    cg_sbuf_putc(out, '\n');
  }
  cg_sbuf_printf(out,
                 "/* Service descriptor: path \"%s\", %zu method%s. */\n"
                 "extern const cp_service_desc %s__service;\n",
                 service->path, service->method_count,
                 service->method_count == 1 ? "" : "s", service->ident);
  cg_sbuf_printf(out,
                 "\n/* Plugin descriptor: name \"%s\", version \"%s\". */\n"
                 "extern const cp_plugin_desc %s__plugin;\n",
                 service->plugin_name, file->version, service->ident);
}

/* True when some method of `service` is of kind `kind`. */
static bool cg_has_kind(const cg_service *service, cg_kind kind) {
  for (size_t i = 0; i < service->method_count; i++) {
    if (cg_method_kind(&service->methods[i]) == kind) {
      return true;
    }
  }
  return false;
}

/* The contract of the handlers, for the kinds of methods the service has. */
static const char *cg_handlers_contract(const cg_service *service,
                                        cg_arena *arena) {
  if (service->method_count == 0) {
    return cg_arena_printf(arena,
                           "%s has no methods; its handler table and "
                           "%s__register exist so that every service has the "
                           "same API.",
                           service->full_name, service->ident);
  }
  const char *unary =
      cg_has_kind(service, CG_UNARY)
          ? " A unary handler fills `resp`, an initialised message owned by "
            "the runtime (allocate its strings and sub-messages with "
            "cp_call_alloc), or defers with cp_call_defer and answers later "
            "with the method's __reply."
          : "";
  const char *streaming =
      cg_has_kind(service, CG_SERVER_STREAMING)
          ? " A server-streaming handler writes with the method's __write "
            "and may keep the stream with cp_stream_keep to end it later "
            "with cp_stream_finish."
          : "";
  const char *reading =
      cg_has_kind(service, CG_CLIENT_STREAMING) ||
              cg_has_kind(service, CG_BIDI_STREAMING)
          ? " A client-streaming or bidirectional handler gets no request: it "
            "keeps the stream (cp_stream_keep) and receives the client's "
            "messages through the method's __read, then answers with __reply "
            "(client-streaming) or writes with __write and ends with "
            "cp_stream_finish (bidirectional)."
          : "";
  return cg_arena_printf(
      arena,
      "Handlers of %s. They run on server threads, get the `user` given to "
      "%s__register and return the call's status code.%s%s%s A NULL handler "
      "is not registered: its method answers UNIMPLEMENTED.",
      service->full_name, service->ident, unary, streaming, reading);
}

/* typedef cp_status_code (*<m>__handler_fn)(...): a named type, so a
 * handler can be declared with it and a mismatch is reported at the
 * definition rather than at the table. */
static void cg_emit_handler_type(const cg_method *method, cg_arena *arena,
                                 cg_sbuf *out) {
  cg_signature sig;
  sig.head = cg_arena_printf(arena, "typedef cp_status_code (*%s__handler_fn)",
                             method->ident);
  cg_handler_params(method, arena, &sig);
  cg_emit_signature(out, "", &sig, ";");
}

static void cg_emit_handler_field(const cg_method *method, cg_sbuf *out) {
  cg_emit_doc(out, "  ", method->comment, NULL, 0);
  cg_sbuf_printf(out, "  %s__handler_fn on_%s;\n", method->ident,
                 method->lower);
}

static void cg_emit_handlers(const cg_service *service, cg_arena *arena,
                             cg_sbuf *out) {
  const char *contract = cg_handlers_contract(service, arena);
  cg_sbuf_putc(out, '\n');
  for (size_t i = 0; i < service->method_count; i++) {
    cg_emit_handler_type(&service->methods[i], arena, out);
  }
  if (service->method_count > 0) {
    cg_sbuf_putc(out, '\n');
  }
  cg_emit_doc(out, "", service->comment, &contract, 1);
  cg_sbuf_printf(out, "typedef struct %s__handlers {\n", service->ident);
  for (size_t i = 0; i < service->method_count; i++) {
    cg_emit_handler_field(&service->methods[i], out);
  }
  if (service->method_count == 0) {
    /* C does not allow an empty struct. */
    cg_sbuf_puts(out, "  /* The service has no methods. */\n  int unused;\n");
  }
  cg_sbuf_printf(out, "} %s__handlers;\n", service->ident);
}

static void cg_emit_register(const cg_service *service, cg_arena *arena,
                             cg_sbuf *out) {
  const char *contract =
      "Registers the non-NULL handlers of `handlers` on `server` (before "
      "cp_server_start), all or none (cp_server_add_methods); `user` is "
      "passed to the handlers. Returns 0, CP_EINVAL when `server` or "
      "`handlers` is NULL, or the error of cp_server_add_methods (then "
      "nothing was registered).";
  cg_sbuf_putc(out, '\n');
  cg_emit_doc(out, "", NULL, &contract, 1);
  cg_signature sig;
  cg_register_signature(service, arena, &sig);
  cg_emit_signature(out, "", &sig, ";");
}

static void cg_emit_unary_stub(const cg_method *method, cg_arena *arena,
                               cg_sbuf *out) {
  const char *contract = cg_arena_printf(
      arena,
      "Calls %s. Returns as cp_client_unary: 0 with *resp set (free it with "
      "protobuf_c_message_free_unpacked((ProtobufCMessage *)*resp, NULL)), or "
      "a negative code with *resp NULL; `status` holds the outcome.",
      method->path);
  cg_sbuf_putc(out, '\n');
  cg_emit_doc(out, "", method->comment, &contract, 1);
  cg_signature sig;
  cg_call_signature(method, arena, &sig);
  cg_emit_signature(out, "", &sig, ";");
}

static void cg_emit_reply(const cg_method *method, cg_arena *arena,
                          cg_sbuf *out) {
  const char *contract =
      method->client_streaming
          ? cg_arena_printf(arena,
                            "Answers a call of %s with `resp`, as "
                            "cp_stream_reply does: serialised now, the "
                            "stream released.",
                            method->path)
          : cg_arena_printf(arena,
                            "Answers a deferred call of %s (cp_call_defer) "
                            "with `resp`, as cp_unary_reply_send does: "
                            "serialised now, the reply released.",
                            method->path);
  cg_sbuf_putc(out, '\n');
  cg_emit_doc(out, "", NULL, &contract, 1);
  cg_signature sig;
  cg_reply_signature(method, arena, &sig);
  cg_emit_signature(out, "", &sig, ";");
}

/* The asynchronous stub of a unary method and its typed callback. */
static void cg_emit_unary_async_stub(const cg_method *method, cg_arena *arena,
                                     cg_sbuf *out) {
  const char *done = cg_arena_printf(
      arena,
      "The outcome of %s__call_async. `status` is valid during the call "
      "only. On OK `resp` is the response, lent to the callback: the runtime "
      "frees it when the callback returns (copy what you keep); otherwise it "
      "is NULL. Runs on the client's callback thread (see "
      "cp_client_unary_async) and must not block.",
      method->ident);
  cg_sbuf_putc(out, '\n');
  cg_emit_doc(out, "", NULL, &done, 1);
  cg_signature sig;
  cg_done_fn_signature(method, arena, &sig);
  cg_emit_signature(out, "", &sig, ";");
  const char *call = cg_arena_printf(
      arena,
      "Starts %s without waiting, as cp_client_unary_async does, through the "
      "client's interceptors: `req` and `opts` are copied before it returns. "
      "Returns 0, and `done` then runs exactly once, later; or a negative "
      "code (CP_EINVAL also for a NULL `done`), and it never runs.",
      method->path);
  cg_sbuf_putc(out, '\n');
  cg_emit_doc(out, "", NULL, &call, 1);
  cg_call_async_signature(method, arena, &sig);
  cg_emit_signature(out, "", &sig, ";");
}

static void cg_emit_stream_stubs(const cg_method *method, cg_arena *arena,
                                 cg_sbuf *out) {
  const char *start = cg_arena_printf(
      arena,
      "Starts %s as cp_client_stream_start does: returns 0 and *out (destroy "
      "it with cp_client_stream_destroy), or a negative code with `status` "
      "filled.",
      method->path);
  cg_sbuf_putc(out, '\n');
  cg_emit_doc(out, "", method->comment, &start, 1);
  cg_signature sig;
  cg_start_signature(method, arena, &sig);
  cg_emit_signature(out, "", &sig, ";");
  const char *next = cg_arena_printf(
      arena,
      "Reads the next message of a stream started with %s__start, as "
      "cp_client_stream_next does: 0 with *msg set (free it with "
      "protobuf_c_message_free_unpacked((ProtobufCMessage *)*msg, NULL)), "
      "CP_EEND at an OK end, CP_ERPC at an error end, or another negative "
      "code; CP_EINVAL for a message of another type (a stream of another "
      "method).",
      method->ident);
  cg_sbuf_putc(out, '\n');
  cg_emit_doc(out, "", NULL, &next, 1);
  cg_next_signature(method, arena, &sig);
  cg_emit_signature(out, "", &sig, ";");
}

static void cg_emit_service(const cg_file *file, const cg_service *service,
                            cg_arena *arena, cg_sbuf *out) {
  cg_sbuf_putc(out, '\n');
  cg_emit_rule(out, service->full_name);
  cg_sbuf_putc(out, '\n');
  cg_emit_descriptors(file, service, out);
  cg_emit_handlers(service, arena, out);
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
        cg_emit_write_decl(method, arena, out);
        cg_emit_stream_stubs(method, arena, out);
        cg_emit_stream_async_decls(method, arena, out);
        break;
      case CG_CLIENT_STREAMING:
      case CG_BIDI_STREAMING:
        cg_emit_duplex_decls(method, arena, out);
        cg_emit_stream_async_decls(method, arena, out);
        break;
    }
  }
}

void cg_emit_header(const cg_file *file, cg_arena *arena, cg_sbuf *out) {
  cg_emit_file_comment(file, out);
  cg_sbuf_printf(out,
                 "#ifndef %s\n"
                 "#define %s\n"
                 "\n"
                 "#include <cplugin/server.h>\n"
                 "#include <cplugin/client.h>\n"
                 "\n"
                 "#include \"%s.pb-c.h\"\n"
                 "\n"
                 "#ifdef __cplusplus\n"
                 "extern \"C\" {\n"
                 "#endif\n",
                 file->guard, file->guard, file->stem);
  for (size_t i = 0; i < file->service_count; i++) {
    cg_emit_service(file, &file->services[i], arena, out);
  }
  cg_sbuf_printf(out,
                 "\n"
                 "#ifdef __cplusplus\n"
                 "}\n"
                 "#endif\n"
                 "\n"
                 "#endif /* %s */\n",
                 file->guard);
}
