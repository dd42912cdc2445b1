/* protoc-gen-cplugin — what methods whose client streams (client-streaming
 * and bidirectional) add to the output, and the typed __write of methods
 * whose server streams. */
#ifndef CPLUGIN_CODEGEN_EMIT_DUPLEX_H
#define CPLUGIN_CODEGEN_EMIT_DUPLEX_H

#include "alloc.h"
#include "model.h"
#include "sbuf.h"

/* Header: the typed message callback and __read (server side), __write for
 * bidirectional methods, and the client stubs __open, __send and __finish
 * (client-streaming) or __next (bidirectional). */
void cg_emit_duplex_decls(const cg_method *method, cg_arena *arena,
                          cg_sbuf *out);
/* Source: their definitions. */
void cg_emit_duplex_defs(const cg_method *method, cg_arena *arena,
                         cg_sbuf *out);

/* __write of a method whose server streams: declaration and definition. */
void cg_emit_write_decl(const cg_method *method, cg_arena *arena, cg_sbuf *out);
void cg_emit_write_def(const cg_method *method, cg_arena *arena, cg_sbuf *out);

/* Source: the static invoker that calls a typed message callback. */
void cg_emit_message_invoker(const cg_method *method, cg_arena *arena,
                             cg_sbuf *out);

#endif /* CPLUGIN_CODEGEN_EMIT_DUPLEX_H */
