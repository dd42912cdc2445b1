/* protoc-gen-cplugin — client-streaming and bidirectional methods: the
 * typed way to read the client's messages and to write back on the server,
 * and the client stubs that open, send and finish such a call. */
#include "emit_duplex.h"

#include "emit.h"

static void cg_emit_decl(cg_sbuf *out, const char *doc,
                         const cg_signature *sig) {
  cg_sbuf_putc(out, '\n');
  cg_emit_doc(out, "", NULL, &doc, 1);
  cg_emit_signature(out, "", sig, ";");
}

void cg_emit_write_decl(const cg_method *method, cg_arena *arena,
                        cg_sbuf *out) {
  cg_signature sig;
  cg_write_signature(method, arena, &sig);
  cg_emit_decl(out,
               cg_arena_printf(arena,
                               "Writes one message of %s's stream, as "
                               "cp_stream_send does (serialised now; "
                               "CP_EAGAIN when the client reads too slowly).",
                               method->path),
               &sig);
}

void cg_emit_duplex_decls(const cg_method *method, cg_arena *arena,
                          cg_sbuf *out) {
  bool bidi = method->server_streaming;
  cg_signature sig;
  cg_message_fn_signature(method, arena, &sig);
  cg_emit_decl(out,
               cg_arena_printf(arena,
                               "Receives each message the client sends on "
                               "%s, then NULL after its last one; the "
                               "message is valid during the call only (see "
                               "cp_stream_read).",
                               method->path),
               &sig);
  cg_read_signature(method, arena, &sig);
  cg_emit_decl(out,
               "Starts delivering the client's messages to `fn`, as "
               "cp_stream_read does: once, from the handler (which keeps the "
               "stream) or the holder.",
               &sig);
  if (bidi) {
    cg_emit_write_decl(method, arena, out);
  }
  cg_open_signature(method, arena, &sig);
  cg_sbuf_putc(out, '\n');
  const char *open = cg_arena_printf(
      arena,
      "Opens %s as cp_client_stream_open does: returns 0 and *out (destroy "
      "it with cp_client_stream_destroy), or a negative code with `status` "
      "filled.",
      method->path);
  cg_emit_doc(out, "", method->comment, &open, 1);
  cg_emit_signature(out, "", &sig, ";");
  cg_send_signature(method, arena, &sig);
  cg_emit_decl(out,
               "Sends one message, as cp_client_stream_send does (blocks while "
               "flow control holds the previous one back).",
               &sig);
  if (bidi) {
    cg_next_signature(method, arena, &sig);
    cg_emit_decl(
        out,
        cg_arena_printf(
            arena,
            "Reads the next message of a stream opened with %s__open, as "
            "cp_client_stream_next does: 0 with *msg set (free it with "
            "protobuf_c_message_free_unpacked((ProtobufCMessage *)*msg, "
            "NULL)), CP_EEND at an OK end, CP_ERPC at an error end, or another "
            "negative code; CP_EINVAL for a message of another type.",
            method->ident),
        &sig);
  } else {
    cg_finish_signature(method, arena, &sig);
    cg_emit_decl(out,
                 "Half-closes and waits for the one response, as "
                 "cp_client_stream_finish does: 0 with *resp set (free it with "
                 "protobuf_c_message_free_unpacked((ProtobufCMessage *)*resp, "
                 "NULL)), or a negative code with *resp NULL; `status` holds "
                 "the outcome.",
                 &sig);
  }
}

void cg_emit_write_def(const cg_method *method, cg_arena *arena, cg_sbuf *out) {
  cg_signature sig;
  cg_write_signature(method, arena, &sig);
  cg_sbuf_putc(out, '\n');
  cg_emit_signature(out, "", &sig, " {");
  cg_sbuf_puts(out,
               "  return cp_stream_send(stream, (const ProtobufCMessage "
               "*)msg);\n}\n");
}

void cg_emit_message_invoker(const cg_method *method, cg_arena *arena,
                             cg_sbuf *out) {
  cg_signature sig;
  sig.head =
      cg_arena_printf(arena, "static void %s__message_invoke", method->ident);
  sig.params[0] = "cp_generic_fn fn";
  sig.params[1] = "cp_stream *stream";
  sig.params[2] = "const ProtobufCMessage *msg";
  sig.params[3] = "void *user";
  sig.count = 4;
  cg_sbuf_putc(out, '\n');
  cg_emit_signature(out, "", &sig, " {");
  cg_signature call;
  call.head = cg_arena_printf(arena, "((%s__message_fn)fn)", method->ident);
  call.params[0] = "stream";
  call.params[1] =
      cg_arena_printf(arena, "(const %s *)msg", method->request.c_name);
  call.params[2] = "user";
  call.count = 3;
  cg_emit_signature(out, "  ", &call, ";");
  cg_sbuf_puts(out, "}\n");
}

void cg_emit_duplex_defs(const cg_method *method, cg_arena *arena,
                         cg_sbuf *out) {
  cg_signature sig;
  cg_read_signature(method, arena, &sig);
  cg_sbuf_putc(out, '\n');
  cg_emit_signature(out, "", &sig, " {");
  cg_signature call;
  call.head = "return cp_stream_read_typed";
  call.params[0] = "stream";
  call.params[1] = cg_arena_printf(arena, "&%s__method", method->ident);
  call.params[2] = "(cp_generic_fn)fn";
  call.params[3] = "user";
  call.count = 4;
  cg_emit_signature(out, "  ", &call, ";");
  cg_sbuf_puts(out, "}\n");
  if (method->server_streaming) {
    cg_emit_write_def(method, arena, out);
  }
  cg_open_signature(method, arena, &sig);
  cg_sbuf_putc(out, '\n');
  cg_emit_signature(out, "", &sig, " {");
  call.head = "return cp_client_stream_open";
  call.params[0] = "client";
  call.params[1] = cg_arena_printf(arena, "&%s__method", method->ident);
  call.params[2] = "opts";
  call.params[3] = "out";
  call.params[4] = "status";
  call.count = 5;
  cg_emit_signature(out, "  ", &call, ";");
  cg_sbuf_puts(out, "}\n");
  cg_send_signature(method, arena, &sig);
  cg_sbuf_putc(out, '\n');
  cg_emit_signature(out, "", &sig, " {");
  cg_sbuf_puts(out,
               "  return cp_client_stream_send(stream, (const "
               "ProtobufCMessage *)msg);\n}\n");
  if (method->server_streaming) {
    return; /* __next: as for a server-streaming method (emit_source.c) */
  }
  cg_finish_signature(method, arena, &sig);
  cg_sbuf_putc(out, '\n');
  cg_emit_signature(out, "", &sig, " {");
  /* As __call: a local untyped pointer, converted afterwards. */
  cg_sbuf_printf(out,
                 "  ProtobufCMessage *msg = NULL;\n"
                 "  int rc = cp_client_stream_finish(stream, resp == NULL ? "
                 "NULL : &msg, status);\n"
                 "  if (rc == 0 && msg != NULL && msg->descriptor != &%s) {\n"
                 "    protobuf_c_message_free_unpacked(msg, NULL);\n"
                 "    msg = NULL;\n"
                 "    rc = CP_EINVAL;\n"
                 "  }\n"
                 "  if (resp != NULL) {\n"
                 "    *resp = (%s *)msg;\n"
                 "  }\n"
                 "  return rc;\n"
                 "}\n",
                 method->response.descriptor, method->response.c_name);
}
