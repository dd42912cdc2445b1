/* protoc-gen-cplugin — one run: a CodeGeneratorRequest in, a
 * CodeGeneratorResponse out.
 */
#ifndef CPLUGIN_CODEGEN_GENERATOR_H
#define CPLUGIN_CODEGEN_GENERATOR_H

#include "alloc.h"
#include "google/protobuf/compiler/plugin.pb-c.h"

typedef Google__Protobuf__Compiler__CodeGeneratorResponse cg_response;

/* Generates <stem>.cplugin.h and <stem>.cplugin.c for every file to generate
 * that has services. Fills `resp` (initialised by the caller) with the files,
 * or with an error message and no files: like every protoc plugin, a problem
 * in the input is reported in the response, not by the exit status. All
 * strings and arrays put in `resp` are owned by `arena`. */
void cg_generate(const Google__Protobuf__Compiler__CodeGeneratorRequest *req,
                 cg_arena *arena, cg_response *resp);

#endif /* CPLUGIN_CODEGEN_GENERATOR_H */
