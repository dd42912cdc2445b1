"""cplugin_proto_library: C messages (protoc-c) + cplugin stubs (protoc-gen-cplugin).

    load("@cplugin//bazel:cplugin_proto.bzl", "cplugin_proto_library")

    cplugin_proto_library(
        name = "greeter_proto",
        srcs = ["proto/greeter/v1/greeter.proto"],
        proto_root = "proto",
    )

    cc_binary(name = "greeter", srcs = ["main.c"], deps = [":greeter_proto"])

    // main.c
    #include "greeter/v1/greeter.pb-c.h"
    #include "greeter/v1/greeter.cplugin.h"

For every `x.proto` in srcs the macro runs `/usr/bin/protoc` once with
`--c_out` (protoc-c's `protoc-gen-c`) and `--cplugin_out` (cplugin's own
`//codegen:protoc-gen-cplugin`, resolved through Label() so that it always
points at the cplugin repository, whether that is the main workspace or an
external repository named `cplugin`), and wraps the outputs in a cc_library:

    x.pb-c.h, x.pb-c.c          always
    x.cplugin.h, x.cplugin.c    when has_services = True (the default)

Arguments:
  name:         name of the cc_library.
  srcs:         .proto files, as paths relative to the calling package
                (plain file names, no labels into other packages).
  deps:         other cplugin_proto_library targets whose .proto files the
                srcs import (in `//pkg:name` or `:name` form). They are made
                importable for protoc and linked into the cc_library.
  proto_root:   directory, relative to the calling package, that import
                paths are relative to (the `-I` directory). "" means the
                package directory itself. With srcs =
                ["proto/kv/v1/kv.proto"] and proto_root = "proto", the proto
                is imported as "kv/v1/kv.proto" and its headers are included
                as "kv/v1/kv.pb-c.h" and "kv/v1/kv.cplugin.h".
  version:      when set, passed as `--cplugin_opt=version=<version>` (the
                plugin version recorded in the generated descriptors).
  has_services: protoc-gen-cplugin writes x.cplugin.{h,c} only for files
                that declare a service, and Bazel must know every output in
                advance, so this flag says whether ALL srcs declare at least
                one service (True, default) or NONE does (False). Put
                messages-only protos in their own cplugin_proto_library with
                has_services = False and list it in `deps` of the one whose
                protos import them.
  visibility:   visibility of the cc_library (and of the helper targets that
                dependents need).
  **kwargs:     passed to the cc_library (e.g. copts, tags, testonly).

Generated files live in `_cplugin_gen/<name>/` inside the package's output
directory; the cc_library exports that directory through `includes`, so
dependents use paths relative to proto_root. The cc_library depends on
cplugin's runtime (`//runtime:cplugin` of the cplugin repository) and on
`@system//:protobuf_c`, so the consumer workspace must declare the `system`
repository with `system_libs` (see system_libs.bzl).
"""

_PROTOC = "/usr/bin/protoc"
_PROTOC_GEN_C = "/usr/bin/protoc-gen-c"  # protobuf-c-compiler
_PLUGIN = Label("//codegen:protoc-gen-cplugin")
_RUNTIME = Label("//runtime:cplugin")

def _strip_colon(src):
    if src.startswith(":"):
        return src[1:]
    if src.startswith("//") or src.startswith("@"):
        fail("cplugin_proto_library: srcs must be files of the calling package, got %s" % src)
    return src

def _import_path(src, proto_root):
    if not src.endswith(".proto"):
        fail("cplugin_proto_library: %s is not a .proto file" % src)
    root = proto_root.strip("/")
    if root in ("", "."):
        return src
    if not src.startswith(root + "/"):
        fail("cplugin_proto_library: %s is not under proto_root %s" % (src, proto_root))
    return src[len(root) + 1:]

def _helper(dep, suffix):
    """'//a/b:c' -> '//a/b:c<suffix>'; '//a/b' -> '//a/b:b<suffix>'; ':c' -> ':c<suffix>'."""
    if ":" in dep:
        return dep + suffix
    return "%s:%s%s" % (dep, dep.split("/")[-1], suffix)

def _sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"

def cplugin_proto_library(
        name,
        srcs,
        deps = [],
        proto_root = "",
        version = None,
        visibility = None,
        has_services = True,
        **kwargs):
    if not srcs:
        fail("cplugin_proto_library: srcs is empty")
    if type(has_services) != "bool":
        fail("cplugin_proto_library: has_services must be True or False")

    files = [_strip_colon(s) for s in srcs]
    imports = [_import_path(f, proto_root) for f in files]
    gen_dir = "_cplugin_gen/" + name

    # <name>_protos: these .proto files and those of the deps, so that a
    # dependent's protoc can read everything it imports.
    native.filegroup(
        name = name + "_protos",
        srcs = files + [_helper(d, "_protos") for d in deps],
        visibility = visibility,
    )

    # <name>.protomap: one `-I<import path>=<execroot path>` protoc argument
    # per .proto file, transitively. Execroot paths differ between the main
    # and an external repository, hence computed at build time.
    map_lines = ["echo %s$(location %s)" % (_sh_quote("-I%s=" % imp), f) for f, imp in zip(files, imports)]
    dep_maps = [_helper(d, "_protomap") for d in deps]
    native.genrule(
        name = name + "_protomap",
        srcs = files + dep_maps,
        outs = [name + ".protomap"],
        cmd = "{ %s; %s } > $@" % (
            "; ".join(map_lines),
            " ".join(["cat $(location %s);" % m for m in dep_maps]),
        ),
        visibility = visibility,
    )

    hdrs = []
    c_srcs = []
    for imp in imports:
        base = gen_dir + "/" + imp[:-len(".proto")]
        hdrs.append(base + ".pb-c.h")
        c_srcs.append(base + ".pb-c.c")
        if has_services:
            hdrs.append(base + ".cplugin.h")
            c_srcs.append(base + ".cplugin.c")

    plugin = str(_PLUGIN)
    opts = ""
    if version != None:
        opts = " --cplugin_opt=" + _sh_quote("version=%s" % version)
    native.genrule(
        name = name + "_gen",
        srcs = [name + "_protos", name + ".protomap"],
        outs = hdrs + c_srcs,
        tools = [plugin],
        cmd = " ".join([
            "out=$(RULEDIR)/%s &&" % gen_dir,
            "mkdir -p $$out &&",
            _PROTOC,
            "$$(cat $(location %s.protomap))" % name,
            "--plugin=protoc-gen-c=" + _PROTOC_GEN_C,
            "--c_out=$$out",
            "--plugin=protoc-gen-cplugin=$(location %s)" % plugin,
            "--cplugin_out=$$out" + opts,
        ] + [_sh_quote(i) for i in imports] + ([
            "&& for f in %s; do" % " ".join(["$(location %s)" % c for c in c_srcs if c.endswith(".cplugin.c")]),
            "[ -e $$f ] || { echo \"cplugin_proto_library(%s): protoc-gen-cplugin wrote no $${f##*/}:" % name,
            "a .proto without services needs has_services = False (in a target of its own)\" >&2; exit 1; };",
            "done",
        ] if has_services else [])),
        message = "protoc-c + protoc-gen-cplugin for %s" % name,
    )

    native.cc_library(
        name = name,
        srcs = c_srcs,
        hdrs = hdrs,
        includes = [gen_dir],
        deps = list(deps) + [str(_RUNTIME), "@system//:protobuf_c"],
        visibility = visibility,
        **kwargs
    )
