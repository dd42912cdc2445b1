"""`system_libs`: a local repository rule exposing system libraries to Bazel.

It runs `pkg-config --cflags` / `pkg-config --libs` on the host (no network,
no downloads) and writes a BUILD file with one `cc_library` per library:

    @system//:grpc         pkg-config grpc (pulls in gpr, absl, OpenSSL)
    @system//:gpr          pkg-config gpr
    @system//:protobuf_c   pkg-config libprotobuf-c
    @system//:openssl      pkg-config openssl (libssl + libcrypto)
    @system//:microhttpd   pkg-config libmicrohttpd (fallback: -lmicrohttpd)
    @system//:jansson      pkg-config jansson (fallback: -ljansson)
    @system//:hiredis      pkg-config hiredis (fallback: -lhiredis)
    @system//:gtest        pkg-config gtest       (fallback: -lgtest -lpthread)
    @system//:gtest_main   pkg-config gtest_main  (fallback: -lgtest_main -lgtest -lpthread)
    @system//:gmock        pkg-config gmock       (fallback: -lgmock -lgtest -lpthread)
    @system//:benchmark    pkg-config benchmark   (fallback: -lbenchmark -lpthread)
    @system//:benchmark_main  -lbenchmark_main + :benchmark (Debian ships no .pc)
    @system//:protobuf     pkg-config protobuf    (fallback: -lprotobuf)
    @system//:grpcpp       pkg-config grpc++ + :protobuf (fallback: -lgrpc++ -lgrpc -lgpr);
                           gRPC C++, for tools/compare's reference server only

`-D` flags become `defines`, `-l`/`-L`/`-Wl` flags become `linkopts`.
Include directories other than /usr/include (none on Debian 12 for these
packages) are symlinked into the repository and exported through `includes`.

Usage in a WORKSPACE (the repository must be named `system`, because
cplugin's BUILD files refer to `@system//:...`):

    load("@cplugin//bazel:system_libs.bzl", "system_libs")
    system_libs(name = "system")

The rule is `local = True`: Bazel re-runs it after `bazel clean --expunge`
or when PKG_CONFIG_PATH / PKG_CONFIG_LIBDIR change. Each pkg-config call
on grpc costs about half a second.
"""

# name -> (pkg-config module or None, required, fallback linkopts, extra deps)
_LIBS = [
    ("grpc", "grpc", True, [], []),
    ("gpr", "gpr", True, [], []),
    ("protobuf_c", "libprotobuf-c", True, [], []),
    ("openssl", "openssl", False, ["-lssl", "-lcrypto"], []),
    ("microhttpd", "libmicrohttpd", False, ["-lmicrohttpd"], []),
    ("jansson", "jansson", False, ["-ljansson"], []),
    ("hiredis", "hiredis", False, ["-lhiredis"], []),
    ("gtest", "gtest", False, ["-lgtest", "-lpthread"], []),
    ("gtest_main", "gtest_main", False, ["-lgtest_main", "-lgtest", "-lpthread"], []),
    ("gmock", "gmock", False, ["-lgmock", "-lgtest", "-lpthread"], []),
    ("benchmark", "benchmark", False, ["-lbenchmark", "-lpthread"], []),
    ("benchmark_main", None, False, ["-lbenchmark_main"], [":benchmark"]),
    ("protobuf", "protobuf", False, ["-lprotobuf"], []),
    ("grpcpp", "grpc++", False, ["-lgrpc++", "-lgrpc", "-lgpr"], [":protobuf"]),
]

_DEFAULT_INCLUDE_DIRS = ["/usr/include", "/usr/local/include"]

def _pkg_config(rctx, pkg_config, flag, module):
    res = rctx.execute([pkg_config, flag, module])
    if res.return_code != 0:
        return None, res.stderr
    return [w for w in res.stdout.replace("\t", " ").replace("\n", " ").split(" ") if w], ""

def _starlark_list(items):
    return "[" + ", ".join(['"%s"' % i.replace("\\", "\\\\").replace('"', '\\"') for i in items]) + "]"

def _system_libs_impl(rctx):
    pkg_config = rctx.which("pkg-config")
    targets = []
    for name, module, required, fallback, extra_deps in _LIBS:
        defines = []
        linkopts = []
        includes = []
        if module and pkg_config:
            cflags, err1 = _pkg_config(rctx, pkg_config, "--cflags", module)
            libs, err2 = _pkg_config(rctx, pkg_config, "--libs", module)
            if cflags == None or libs == None:
                if required:
                    fail("system_libs: pkg-config could not find '%s' (install its -dev package):\n%s%s" % (module, err1, err2))
                linkopts = list(fallback)
            else:
                for f in cflags:
                    if f.startswith("-D"):
                        defines.append(f[2:])
                    elif f.startswith("-I"):
                        d = f[2:]
                        if d in _DEFAULT_INCLUDE_DIRS:
                            continue
                        link = "include_%s_%d" % (name, len(includes))
                        rctx.symlink(d, link)
                        includes.append(link)
                    # Other compile flags (e.g. -pthread) are handled by linkopts.
                # Kept verbatim: pkg-config's repetitions matter for static link order.
                linkopts = libs
        elif module and required:
            fail("system_libs: pkg-config is not installed (apt-get install pkg-config)")
        else:
            linkopts = list(fallback)

        hdrs = "glob([%s], allow_empty = True)" % ", ".join(['"%s/**"' % i for i in includes]) if includes else "[]"
        targets.append("""
cc_library(
    name = "{name}",
    hdrs = {hdrs},
    includes = {includes},
    defines = {defines},
    linkopts = {linkopts},
    deps = {deps},
)
""".format(
            name = name,
            hdrs = hdrs,
            includes = _starlark_list(includes),
            defines = _starlark_list(defines),
            linkopts = _starlark_list(linkopts),
            deps = _starlark_list(extra_deps),
        ))

    rctx.file("WORKSPACE", 'workspace(name = "%s")\n' % rctx.name)
    rctx.file("BUILD", "# Generated by @cplugin//bazel:system_libs.bzl from pkg-config. Do not edit.\n" +
                       'package(default_visibility = ["//visibility:public"])\n' +
                       "".join(targets))

system_libs = repository_rule(
    implementation = _system_libs_impl,
    local = True,
    environ = ["PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR", "PKG_CONFIG_SYSROOT_DIR"],
    doc = "Exposes pkg-config system libraries (gRPC C core, protobuf-c, GoogleTest, Benchmark) as cc_library targets.",
)
