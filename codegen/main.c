/* protoc-gen-cplugin — entry point: reads a CodeGeneratorRequest from stdin
 * and writes a CodeGeneratorResponse to stdout.
 *
 * Exit status: 0 whenever a response was written, including one that reports
 * an error in the .proto input (protoc prints it); 1 when stdin does not hold
 * a request or stdout cannot be written, with a message on stderr.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "generator.h"
#include "google/protobuf/compiler/plugin.pb-c.h"

static const char cg_usage[] =
    "usage: protoc --plugin=protoc-gen-cplugin=PATH --c_out=DIR "
    "--cplugin_out=DIR [--cplugin_opt=version=X.Y.Z] FILE.proto...\n"
    "protoc-gen-cplugin is a protoc plugin: it reads a CodeGeneratorRequest "
    "on stdin\nand writes typed cplugin stubs next to protoc-c's output.\n";

/* Reads all of `in` into a new buffer. Returns NULL on a read error. */
static unsigned char *cg_read_all(FILE *in, size_t *len) {
  size_t cap = (size_t)64 * 1024;
  size_t n = 0;
  unsigned char *buf = cg_xmalloc(cap);
  for (;;) {
    if (n == cap) {
      if (cap > SIZE_MAX / 2) {
        cg_out_of_memory();
      }
      cap *= 2;
      buf = cg_xrealloc(buf, cap);
    }
    size_t got = fread(buf + n, 1, cap - n, in);
    n += got;
    if (got == 0) {
      break;
    }
  }
  if (ferror(in)) {
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

/* Serialises `resp` to stdout. Returns 0, or 1 when writing fails. */
static int cg_write_response(const cg_response *resp) {
  size_t size =
      google__protobuf__compiler__code_generator_response__get_packed_size(
          resp);
  unsigned char *buf = cg_xmalloc(size);
  google__protobuf__compiler__code_generator_response__pack(resp, buf);
  size_t written = fwrite(buf, 1, size, stdout);
  free(buf);
  if (written != size || fflush(stdout) != 0) {
    fputs("protoc-gen-cplugin: cannot write the response to stdout\n", stderr);
    return 1;
  }
  return 0;
}

/* Handles command-line arguments, which protoc never passes. */
static int cg_handle_arguments(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--help") == 0) {
    fputs(cg_usage, stdout);
    return 0;
  }
  fputs(cg_usage, stderr);
  return 1;
}

int main(int argc, char **argv) {
  if (argc > 1) {
    return cg_handle_arguments(argc, argv);
  }
  size_t len = 0;
  unsigned char *input = cg_read_all(stdin, &len);
  if (input == NULL) {
    fputs("protoc-gen-cplugin: cannot read stdin\n", stderr);
    return 1;
  }
  Google__Protobuf__Compiler__CodeGeneratorRequest *req =
      google__protobuf__compiler__code_generator_request__unpack(NULL, len,
                                                                 input);
  free(input);
  if (req == NULL) {
    fputs(
        "protoc-gen-cplugin: stdin does not hold a CodeGeneratorRequest "
        "(run it through protoc)\n",
        stderr);
    return 1;
  }
  cg_arena arena;
  cg_arena_init(&arena);
  cg_response resp = GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__INIT;
  cg_generate(req, &arena, &resp);
  int status = cg_write_response(&resp);
  cg_arena_free(&arena);
  google__protobuf__compiler__code_generator_request__free_unpacked(req, NULL);
  return status;
}
