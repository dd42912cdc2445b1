/* protoc-gen-cplugin's input: a CodeGeneratorRequest it must not trust. */
#include "alloc.h"
#include "generator.h"
#include "google/protobuf/compiler/plugin.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Google__Protobuf__Compiler__CodeGeneratorRequest *req =
      google__protobuf__compiler__code_generator_request__unpack(NULL, size,
                                                                 data);
  if (req == NULL) {
    return 0;
  }
  cg_arena arena;
  cg_arena_init(&arena);
  cg_response resp = GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__INIT;
  cg_generate(req, &arena, &resp);
  cg_arena_free(&arena);
  google__protobuf__compiler__code_generator_request__free_unpacked(req, NULL);
  return 0;
}
