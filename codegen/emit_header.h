/* protoc-gen-cplugin — the generated header, <stem>.cplugin.h. */
#ifndef CPLUGIN_CODEGEN_EMIT_HEADER_H
#define CPLUGIN_CODEGEN_EMIT_HEADER_H

#include "alloc.h"
#include "model.h"
#include "sbuf.h"

/* Appends the header for `file` to `out`. `arena` holds temporary strings. */
void cg_emit_header(const cg_file *file, cg_arena *arena, cg_sbuf *out);

#endif /* CPLUGIN_CODEGEN_EMIT_HEADER_H */
