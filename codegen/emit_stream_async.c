/* protoc-gen-cplugin — asynchronous client stubs of streaming methods. The
 * typed callback travels type-erased with a static invoker that converts it
 * back, as for __call_async, so the runtime lends each message and frees
 * it, and the stub allocates nothing. */
#include "emit_stream_async.h"

#include "emit.h"

/* The typed callback: one per message and one at the end for a method
 * whose server streams; the unary-shaped __done_fn (one call) for a
 * client-streaming method. */
static void cg_callback_signature(const cg_method *method, cg_arena *arena,
                                  cg_signature *sig) {
  if (!method->server_streaming) {
    cg_done_fn_signature(method, arena, sig);
    return;
  }
  sig->head =
      cg_arena_printf(arena, "typedef void (*%s__next_fn)", method->ident);
  sig->params[0] = "const cp_status *status";
  sig->params[1] =
      cg_arena_printf(arena, "const %s *msg", method->response.c_name);
  sig->params[2] = "void *user";
  sig->count = 3;
}

static const char *cg_callback_type(const cg_method *method, cg_arena *arena) {
  return cg_arena_printf(arena, "%s__%s", method->ident,
                         method->server_streaming ? "next_fn" : "done_fn");
}

static void cg_stub_signature(const cg_method *method, cg_arena *arena,
                              cg_signature *sig) {
  size_t n = 0;
  sig->head =
      cg_arena_printf(arena, "int %s__%s", method->ident,
                      method->client_streaming ? "open_async" : "start_async");
  sig->params[n++] = "cp_client *client";
  if (!method->client_streaming) {
    sig->params[n++] =
        cg_arena_printf(arena, "const %s *req", method->request.c_name);
  }
  sig->params[n++] = "const cp_call_options *opts";
  sig->params[n++] =
      cg_arena_printf(arena, "%s %s", cg_callback_type(method, arena),
                      method->server_streaming ? "on_message" : "done");
  sig->params[n++] = "void *user";
  sig->params[n++] = "cp_client_stream **out";
  sig->count = n;
}

void cg_emit_stream_async_decls(const cg_method *method, cg_arena *arena,
                                cg_sbuf *out) {
  const char *fn_doc =
      method->server_streaming
          ? cg_arena_printf(
                arena,
                "The responses of a stream started with %s__%s: each "
                "message with an OK status, then exactly once the final "
                "status with msg NULL. Both are lent to the callback: the "
                "runtime frees the message when the callback returns (copy "
                "what you keep). Runs on the client's callback thread (see "
                "cp_client_stream_start_async) and must not block.",
                method->ident,
                method->client_streaming ? "open_async" : "start_async")
          : cg_arena_printf(
                arena,
                "The outcome of %s__open_async: runs exactly once, with OK "
                "and the response (lent: freed when the callback returns), "
                "or with the failure and NULL. Runs on the client's "
                "callback thread and must not block.",
                method->ident);
  cg_signature sig;
  cg_sbuf_putc(out, '\n');
  cg_emit_doc(out, "", NULL, &fn_doc, 1);
  cg_callback_signature(method, arena, &sig);
  cg_emit_signature(out, "", &sig, ";");
  const char *stub_doc = cg_arena_printf(
      arena,
      "%s %s without blocking, as %s does, through the client's "
      "interceptors; its responses go to the callback. Returns 0 with *out "
      "set (destroy it with cp_client_stream_destroy; the callback's end "
      "runs exactly once), or a negative code and the callback never "
      "runs.%s",
      method->client_streaming ? "Opens" : "Starts", method->path,
      method->client_streaming ? "cp_client_stream_open_async"
                               : "cp_client_stream_start_async",
      method->client_streaming ? cg_arena_printf(arena,
                                                 " Send with %s__send, then "
                                                 "cp_client_stream_close_send.",
                                                 method->ident)
                               : "");
  cg_sbuf_putc(out, '\n');
  cg_emit_doc(out, "", NULL, &stub_doc, 1);
  cg_stub_signature(method, arena, &sig);
  cg_emit_signature(out, "", &sig, ";");
}

void cg_emit_stream_async_defs(const cg_method *method, cg_arena *arena,
                               cg_sbuf *out) {
  cg_signature inv;
  inv.head =
      cg_arena_printf(arena, "static void %s__invoke_async", method->ident);
  inv.params[0] = "cp_generic_fn fn";
  inv.params[1] = "const cp_status *status";
  inv.params[2] = "const ProtobufCMessage *msg";
  inv.params[3] = "void *user";
  inv.count = 4;
  cg_sbuf_putc(out, '\n');
  cg_emit_signature(out, "", &inv, " {");
  cg_signature call;
  call.head =
      cg_arena_printf(arena, "((%s)fn)", cg_callback_type(method, arena));
  call.params[0] = "status";
  call.params[1] =
      cg_arena_printf(arena, "(const %s *)msg", method->response.c_name);
  call.params[2] = "user";
  call.count = 3;
  cg_emit_signature(out, "  ", &call, ";");
  cg_sbuf_puts(out, "}\n");

  cg_signature sig;
  cg_stub_signature(method, arena, &sig);
  cg_sbuf_putc(out, '\n');
  cg_emit_signature(out, "", &sig, " {");
  size_t n = 0;
  call.head = method->client_streaming
                  ? "return cp_client_stream_open_async_typed"
                  : "return cp_client_stream_start_async_typed";
  call.params[n++] = "client";
  call.params[n++] = cg_arena_printf(arena, "&%s__method", method->ident);
  if (!method->client_streaming) {
    call.params[n++] = "(const ProtobufCMessage *)req";
  }
  call.params[n++] = "opts";
  call.params[n++] = cg_arena_printf(arena, "%s__invoke_async", method->ident);
  call.params[n++] = method->server_streaming ? "(cp_generic_fn)on_message"
                                              : "(cp_generic_fn)done";
  call.params[n++] = "user";
  call.params[n++] = "out";
  call.count = n;
  cg_emit_signature(out, "  ", &call, ";");
  cg_sbuf_puts(out, "}\n");
}
