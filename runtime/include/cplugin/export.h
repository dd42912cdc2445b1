/* CP_API marks the declarations of libcplugin's public API. The library is
 * built with hidden visibility, so the shared library exports exactly what
 * the public headers declare with CP_API (tools/check_exports.sh checks it);
 * everything else stays internal. Thread safety and ownership: none, a
 * macro only. */
#ifndef CPLUGIN_EXPORT_H
#define CPLUGIN_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define CP_API __attribute__((visibility("default")))
#else
#define CP_API
#endif

#endif /* CPLUGIN_EXPORT_H */
