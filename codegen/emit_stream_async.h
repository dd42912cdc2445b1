/* protoc-gen-cplugin — the asynchronous client stubs of streaming methods:
 * __start_async (server-streaming) and __open_async (client-streaming,
 * bidirectional), whose responses go to a typed callback on the client's
 * callback thread (cp_client_stream_start_async). */
#ifndef CPLUGIN_CODEGEN_EMIT_STREAM_ASYNC_H
#define CPLUGIN_CODEGEN_EMIT_STREAM_ASYNC_H

#include "alloc.h"
#include "model.h"
#include "sbuf.h"

/* Header: the typed callback (<ident>__next_fn for a method whose server
 * streams; the unary-shaped <ident>__done_fn for a client-streaming one)
 * and the stub. */
void cg_emit_stream_async_decls(const cg_method *method, cg_arena *arena,
                                cg_sbuf *out);
/* Source: the static invoker and the stub. */
void cg_emit_stream_async_defs(const cg_method *method, cg_arena *arena,
                               cg_sbuf *out);

#endif /* CPLUGIN_CODEGEN_EMIT_STREAM_ASYNC_H */
