/* protoc-gen-cplugin — generator parameters (--cplugin_opt / the request's
 * `parameter` string).
 *
 * The parameter is a comma-separated list of key=value items; empty items are
 * ignored (protoc joins several --cplugin_opt flags with commas). The only key
 * is `version`, a semantic version (https://semver.org, 2.0.0) that becomes
 * the plugin descriptor's version; it defaults to "1.0.0". Anything else is
 * an error, so that a misspelt option never goes unnoticed.
 */
#ifndef CPLUGIN_CODEGEN_PARAMS_H
#define CPLUGIN_CODEGEN_PARAMS_H

#include <stdbool.h>

#include "alloc.h"
#include "sbuf.h"

#define CG_DEFAULT_VERSION "1.0.0"

typedef struct cg_params {
  const char *version; /* a valid semantic version, owned by the arena */
} cg_params;

/* Parses `parameter` (NULL or "" gives the defaults) into `params`, copying
 * strings into `arena`. Returns true, or false with a message in `err`. */
bool cg_params_parse(cg_params *params, const char *parameter, cg_arena *arena,
                     cg_sbuf *err);

/* True when `s` is a semantic version 2.0.0: MAJOR.MINOR.PATCH without
 * leading zeros, an optional -pre.release and an optional +build.meta. */
bool cg_semver_is_valid(const char *s);

#endif /* CPLUGIN_CODEGEN_PARAMS_H */
