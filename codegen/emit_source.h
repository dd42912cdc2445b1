/* protoc-gen-cplugin — the generated source, <stem>.cplugin.c. */
#ifndef CPLUGIN_CODEGEN_EMIT_SOURCE_H
#define CPLUGIN_CODEGEN_EMIT_SOURCE_H

#include "alloc.h"
#include "model.h"
#include "sbuf.h"

/* Appends the source for `file` to `out`. `arena` holds temporary strings. */
void cg_emit_source(const cg_file *file, cg_arena *arena, cg_sbuf *out);

#endif /* CPLUGIN_CODEGEN_EMIT_SOURCE_H */
