/* protoc-gen-cplugin — names: protoc-c's identifier conversions and the
 * names derived from .proto file and service names.
 *
 * The conversions reproduce protoc-c 1.4.1 exactly (checked against its
 * output in tests/codegen), because the generated code refers to protoc-c's
 * types and descriptors by name. All functions work on ASCII only and do not
 * depend on the locale.
 */
#ifndef CPLUGIN_CODEGEN_NAMES_H
#define CPLUGIN_CODEGEN_NAMES_H

#include <stdbool.h>

#include "alloc.h"
#include "sbuf.h"

/* protoc-c's CamelToLower: an upper-case letter becomes lower-case and is
 * preceded by '_' unless the previous character was upper-case too.
 * "GetPluginInfo" -> "get_plugin_info", "KVService" -> "kvservice",
 * "Get_Foo" -> "get__foo". Appends to `out`. */
void cg_camel_to_lower(cg_sbuf *out, const char *name);

/* protoc-c's ToCamel: drops each '_' and upper-cases the letter after it and
 * the first letter. "my_pkg" -> "MyPkg", "v1" -> "V1". Appends to `out`. */
void cg_to_camel(cg_sbuf *out, const char *name);

/* protoc-c's FullNameToLower and FullNameToC: applies cg_camel_to_lower or
 * cg_to_camel to each non-empty component of a dotted name and joins them
 * with "__". "kv.v1.GetRequest" -> "kv__v1__get_request" and
 * "Kv__V1__GetRequest". Appends to `out`. */
void cg_full_name_to_lower(cg_sbuf *out, const char *dotted);
void cg_full_name_to_c(cg_sbuf *out, const char *dotted);

/* True when `s` is a .proto identifier: [A-Za-z_][A-Za-z0-9_]*. */
bool cg_is_identifier(const char *s);

/* True when `s` is "" or identifiers joined by single dots ("kv.v1"). */
bool cg_is_package_name(const char *s);

/* True when a lower-case protoc-c name (as cg_full_name_to_lower makes it)
 * would make protoc-c emit identifiers that start with "cp_": the name is
 * "cp" (followed by "__" in protoc-c's output) or starts with "cp_". */
bool cg_lower_name_is_reserved(const char *lower);

/* The plugin name of a service: the name without a trailing "Service" (kept
 * when nothing would remain), in lower case. "KVService" -> "kv",
 * "Logger" -> "logger", "ServiceRegistry" -> "serviceregistry". */
char *cg_plugin_name(cg_arena *arena, const char *service_name);

/* The output path stem of a .proto file as protoc-c computes it: the name
 * without ".proto" or ".protodevel". "kv/v1/kv.proto" -> "kv/v1/kv". */
char *cg_file_stem(cg_arena *arena, const char *proto_name);

/* True when a .proto file name can be written into an #include directive and
 * a comment: printable ASCII without '"', '\\' or '?' (trigraphs), not empty,
 * not absolute and without ".." components. */
bool cg_is_safe_file_name(const char *proto_name);

/* An include guard for the header generated from `proto_name`: "CPLUGIN_"
 * followed by the name with every byte other than [A-Za-z0-9] written as "_"
 * and two hex digits (as protoc-c's FilenameIdentifier does, so distinct
 * names give distinct guards), then "_CPLUGIN_H". */
char *cg_include_guard(cg_arena *arena, const char *proto_name);

#endif /* CPLUGIN_CODEGEN_NAMES_H */
