#!/usr/bin/env python3
"""Checks that the Bazel and the CMake build compile the same C/C++ sources.

Usage:
    check_source_lists.py [ROOT]        compare; ROOT defaults to the repository
                                        that contains this script
    check_source_lists.py --list [ROOT] also print both lists with where each
                                        source is listed
    check_source_lists.py --self-test   run the fixtures in tests/tools/fixtures

Exit status: 0 when both sets are equal and non-empty; 1 when they differ or
either is empty; 2 on a usage or parse error.

How each side is read (python3 standard library only):

Bazel: every package (directory with a BUILD or BUILD.bazel file) under ROOT,
skipping .git, bazel-* output links, folders listed in ROOT/.bazelignore,
examples/bazel-consumer, nested workspaces (a folder with its own WORKSPACE)
and CMake build trees (a folder with CMakeCache.txt). Each BUILD file is
*executed* as Python with stub rules, so variables, list concatenation,
comprehensions, glob() and select() (union of all branches) work. The srcs of
cc_library, cc_binary and cc_test are resolved to repository-relative paths
("x.c", ":x.c", "//pkg:x.c"; labels of filegroups are expanded; labels of
other repositories are ignored). Outputs of genrules are generated files and
ignored. Macros loaded from .bzl files (e.g. cplugin_proto_library) produce
generated sources only, so they are ignored too - unless a macro call has a
`srcs` list containing C/C++ files, which is then counted (with a note).

CMake: a small interpreter starts at ROOT/CMakeLists.txt and follows
add_subdirectory() and include() (CMAKE_MODULE_PATH is honoured), with
variables (${...} expansion, set, list(APPEND/PREPEND/REMOVE_ITEM),
file(GLOB/GLOB_RECURSE), cmake_parse_arguments), foreach() loops, user
function()/macro() calls, and every branch of if() taken (union). Sources
are taken from add_library, add_executable and target_sources, and from any
set()/list(APPEND) of a variable whose name ends in _SOURCES or _SRCS.
Relative paths are resolved against the current source dir;
${CMAKE_CURRENT_SOURCE_DIR}, ${PROJECT_SOURCE_DIR}, ${CMAKE_SOURCE_DIR} and
${CMAKE_CURRENT_LIST_DIR} are understood; anything in the binary dir
(${CMAKE_BINARY_DIR}, ${CMAKE_CURRENT_BINARY_DIR}, ${PROJECT_BINARY_DIR}) or
produced by add_custom_command(OUTPUT ...) is generated and ignored, as are
generator expressions. CMakeLists.txt files that no add_subdirectory()
reaches are reported as a warning (CMake does not build them).

Both sides: only .c, .cc, .cpp and .cxx files count; anything under
examples/bazel-consumer is ignored. Sources listed on a side but missing on
disk are reported as a warning.
"""

import argparse
import fnmatch
import os
import re
import sys

C_EXTS = (".c", ".cc", ".cpp", ".cxx")
ALWAYS_IGNORED = ("examples/bazel-consumer",)
BINARY_DIR = "/<cmake-binary-dir>"


def is_c_source(path):
    return path.endswith(C_EXTS)


def norm(path):
    path = os.path.normpath(path).replace(os.sep, "/")
    return "" if path == "." else path


def under(path, prefix):
    return path == prefix or path.startswith(prefix + "/")


class Sources:
    """A set of repo-relative source paths, remembering where each was listed."""

    def __init__(self):
        self.origins = {}

    def add(self, path, origin):
        self.origins.setdefault(path, [])
        if origin not in self.origins[path]:
            self.origins[path].append(origin)

    def paths(self):
        return set(self.origins)


class Log:
    def __init__(self):
        self.warnings = []
        self.notes = []

    def warn(self, msg):
        self.warnings.append(msg)

    def note(self, msg):
        self.notes.append(msg)


def read_ignored(root):
    ignored = list(ALWAYS_IGNORED)
    path = os.path.join(root, ".bazelignore")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    ignored.append(norm(line))
    return ignored


# --------------------------------------------------------------------------
# Bazel
# --------------------------------------------------------------------------

def glob_to_regex(pattern):
    """Bazel glob pattern ('*', '**', '?') to a regex on '/'-separated paths."""
    out = []
    parts = pattern.split("/")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append("(?:.*/)?" if not last else ".*")
            continue
        seg = ""
        for ch in part:
            if ch == "*":
                seg += "[^/]*"
            elif ch == "?":
                seg += "[^/]"
            else:
                seg += re.escape(ch)
        out.append(seg + ("" if last else "/"))
    return re.compile("^" + "".join(out) + "$")


class BazelWorkspace:
    def __init__(self, root, log):
        self.root = root
        self.log = log
        self.ignored = read_ignored(root)
        self.workspace_name = self._workspace_name()
        self.packages = self._find_packages()
        self.rules = {}  # "pkg:name" -> (kind, srcs, pkg, origin)
        self.generated = set()  # repo-relative paths of genrule outputs
        self.cc_srcs = []  # (pkg, src, origin)
        self.macro_srcs = []  # (pkg, src, origin, macro)
        self.bzl_cache = {}  # repo-relative .bzl path -> its top-level values

    def bzl_values(self, pkg, label):
        """Top-level non-function values (constants such as lists of flags) of
        a .bzl file of this repository; {} when it cannot be read."""
        path = self.resolve(pkg, label)
        if path is None:
            return {}
        if path in self.bzl_cache:
            return self.bzl_cache[path]
        self.bzl_cache[path] = {}
        full = os.path.join(self.root, path)
        if not os.path.isfile(full):
            return {}

        class Anything:
            def __getattr__(self, name):
                return lambda *a, **k: None

            def __call__(self, *a, **k):
                return None

        env = {
            "native": Anything(),
            "Label": lambda s, *a, **k: s,
            "select": lambda d, **k: [],
            "struct": lambda **k: type("struct", (), k),
            "fail": lambda *a, **k: None,
            "print": lambda *a, **k: None,
            "load": lambda *a, **k: None,
        }
        try:
            with open(full, encoding="utf-8") as f:
                code = compile(f.read(), full, "exec")
            for _ in range(50):
                try:
                    exec(code, env)
                    break
                except NameError as e:
                    name = getattr(e, "name", None)
                    if not name:
                        m = re.search(r"name '([^']+)' is not defined", str(e))
                        name = m.group(1) if m else None
                    if not name or name in env:
                        raise
                    env[name] = Anything()
        except Exception as e:  # a .bzl is Starlark, not always Python
            self.log.note("%s: not evaluated (%s); its symbols count as macros" % (path, e))
            return {}
        values = {
            k: v
            for k, v in env.items()
            if not k.startswith("__") and isinstance(v, (list, tuple, str, dict, int, bool))
        }
        self.bzl_cache[path] = values
        return values

    def _workspace_name(self):
        for name in ("WORKSPACE", "WORKSPACE.bazel"):
            path = os.path.join(self.root, name)
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    m = re.search(r"workspace\s*\(\s*name\s*=\s*[\"']([^\"']+)", f.read())
                if m:
                    return m.group(1)
        return None

    def is_ignored_dir(self, rel):
        if rel == "":
            return False
        if any(under(rel, ign) for ign in self.ignored):
            return True
        base = rel.split("/")[-1]
        if base == ".git" or (("/" not in rel) and base.startswith("bazel-")):
            return True
        full = os.path.join(self.root, rel)
        if os.path.exists(os.path.join(full, "CMakeCache.txt")):
            return True
        if os.path.exists(os.path.join(full, "WORKSPACE")) or os.path.exists(
            os.path.join(full, "WORKSPACE.bazel")
        ):
            return True  # a nested workspace is not part of //...
        return False

    def _find_packages(self):
        packages = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel = norm(os.path.relpath(dirpath, self.root))
            dirnames[:] = sorted(
                d for d in dirnames if not self.is_ignored_dir(norm(os.path.join(rel, d)))
            )
            for name in ("BUILD.bazel", "BUILD"):
                if name in filenames:
                    packages[rel] = os.path.join(dirpath, name)
                    break
        return packages

    # -- glob ---------------------------------------------------------------
    def glob(self, pkg, include, exclude=(), exclude_directories=1, allow_empty=True):
        pkg_dir = os.path.join(self.root, pkg)
        files = []
        for dirpath, dirnames, filenames in os.walk(pkg_dir):
            rel_dir = norm(os.path.relpath(dirpath, pkg_dir))
            keep = []
            for d in dirnames:
                sub_rel = norm(os.path.join(rel_dir, d))
                repo_rel = norm(os.path.join(pkg, sub_rel))
                if repo_rel in self.packages or self.is_ignored_dir(repo_rel):
                    continue
                keep.append(d)
            dirnames[:] = keep
            for fn in filenames:
                files.append(norm(os.path.join(rel_dir, fn)))
        inc = [glob_to_regex(p) for p in include]
        exc = [glob_to_regex(p) for p in exclude]
        out = [
            f
            for f in files
            if any(r.match(f) for r in inc) and not any(r.match(f) for r in exc)
        ]
        return sorted(out)

    # -- labels -------------------------------------------------------------
    def resolve(self, pkg, label):
        """Returns (repo_relative_path or None if external, is_label_form)."""
        if label.startswith("@"):
            repo, sep, rest = label[1:].partition("//")
            if not sep:
                return None
            if repo not in ("", self.workspace_name):
                return None
            label = "//" + rest
        if label.startswith("//"):
            p, sep, target = label[2:].partition(":")
            if not sep:
                target = p.split("/")[-1]
            return norm(os.path.join(p, target))
        if label.startswith(":"):
            return norm(os.path.join(pkg, label[1:]))
        return norm(os.path.join(pkg, label))

    # -- evaluation ---------------------------------------------------------
    def load_all(self):
        for pkg in sorted(self.packages):
            self._eval_package(pkg, self.packages[pkg])

    def _eval_package(self, pkg, path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        code = compile(text, path, "exec")
        rel_file = norm(os.path.relpath(path, self.root))
        stubs = set()  # names used but never defined: treated as macros
        for _ in range(200):
            rules, gen, cc, macro = {}, set(), [], []
            env = self._env(pkg, rel_file, rules, gen, cc, macro, stubs)
            try:
                exec(code, env)
            except NameError as e:
                name = getattr(e, "name", None)
                if not name:
                    m = re.search(r"name '([^']+)' is not defined", str(e))
                    name = m.group(1) if m else None
                if not name or name in stubs:
                    raise
                stubs.add(name)
                continue
            break
        else:
            raise RuntimeError("%s: too many unknown names" % path)
        self.rules.update(rules)
        self.generated |= gen
        self.cc_srcs.extend(cc)
        self.macro_srcs.extend(macro)

    def _origin(self, rel_file):
        frame = sys._getframe(2)
        while frame is not None and not frame.f_code.co_filename.endswith(
            ("BUILD", "BUILD.bazel")
        ):
            frame = frame.f_back
        line = frame.f_lineno if frame is not None else 0
        return "%s:%d" % (rel_file, line)

    def _macro_stub(self, name, pkg, rel_file, macro_out):
        ws = self

        def stub(*args, **kwargs):
            srcs = kwargs.get("srcs")
            if isinstance(srcs, (list, tuple)):
                origin = ws._origin(rel_file)
                for s in srcs:
                    if isinstance(s, str):
                        macro_out.append((pkg, s, origin, name))
            return None

        return stub

    def _env(self, pkg, rel_file, rules, gen, cc, macro, stubs):
        ws = self
        env = {}

        def noop(*args, **kwargs):
            return None

        def cc_rule(kind):
            def rule(name, srcs=(), **kwargs):
                origin = ws._origin(rel_file)
                rules["%s:%s" % (pkg, name)] = (kind, list(srcs), pkg, origin)
                for s in srcs:
                    cc.append((pkg, s, origin))

            return rule

        def genrule(name, outs=(), **kwargs):
            origin = ws._origin(rel_file)
            rules["%s:%s" % (pkg, name)] = ("genrule", [], pkg, origin)
            for o in outs:
                gen.add(norm(os.path.join(pkg, o)))

        def filegroup(name, srcs=(), **kwargs):
            rules["%s:%s" % (pkg, name)] = ("filegroup", list(srcs), pkg, ws._origin(rel_file))

        def other_rule(kind):
            def rule(name=None, **kwargs):
                if name:
                    rules["%s:%s" % (pkg, name)] = (kind, [], pkg, ws._origin(rel_file))

            return rule

        def glob(include=(), exclude=(), exclude_directories=1, allow_empty=True):
            return ws.glob(pkg, include, exclude, exclude_directories, allow_empty)

        def select(d, no_match_error=""):
            values = list(d.values())
            if values and all(isinstance(v, (list, tuple)) for v in values):
                merged = []
                for v in values:
                    merged.extend(x for x in v if x not in merged)
                return merged
            return values[0] if values else None

        def fail(msg="", *args, **kwargs):
            raise RuntimeError("%s: fail(): %s" % (rel_file, msg))

        known = {
            "cc_library": cc_rule("cc_library"),
            "cc_binary": cc_rule("cc_binary"),
            "cc_test": cc_rule("cc_test"),
            "genrule": genrule,
            "filegroup": filegroup,
        }
        for kind in (
            "sh_binary", "sh_test", "sh_library", "py_binary", "py_test", "py_library",
            "cc_import", "alias", "config_setting", "test_suite", "exports_files",
            "cc_proto_library", "proto_library", "package_group",
        ):
            known[kind] = other_rule(kind)

        def load(bzl, *symbols, **aliases):
            values = ws.bzl_values(pkg, bzl)
            pairs = [(s, s) for s in symbols] + list(aliases.items())
            for local, s in pairs:
                if s in known:
                    env[local] = known[s]
                elif s in values:
                    env[local] = values[s]  # a constant, e.g. a list of copts
                else:
                    env[local] = ws._macro_stub(local, pkg, rel_file, macro)

        for s in stubs:
            env[s] = ws._macro_stub(s, pkg, rel_file, macro)
        env.update(known)
        env.update(
            {
                "load": load,
                "glob": glob,
                "select": select,
                "package": noop,
                "licenses": noop,
                "fail": fail,
                "print": noop,
                "Label": lambda s, *a, **k: s,
                "package_name": lambda: pkg,
                "repository_name": lambda: "@",
                "struct": lambda **k: type("struct", (), k),
                "depset": lambda items=(), **k: list(items),
            }
        )
        return env

    def sources(self):
        out = Sources()
        seen_rules = set()

        def add(pkg, src, origin, depth=0):
            if not isinstance(src, str) or depth > 20:
                return
            path = self.resolve(pkg, src)
            if path is None:
                return  # another repository
            if path in self.generated:
                return
            rule_key = None
            if src.startswith((":", "//", "@")) or not os.path.splitext(src)[1]:
                rp, _, name = path.rpartition("/")
                rule_key = "%s:%s" % (rp, name)
            if rule_key in self.rules:
                kind, srcs, rpkg, _ = self.rules[rule_key]
                if kind == "filegroup" and rule_key not in seen_rules:
                    seen_rules.add(rule_key)
                    for s in srcs:
                        add(rpkg, s, origin, depth + 1)
                    seen_rules.discard(rule_key)
                return
            if is_c_source(path) and not any(under(path, i) for i in ALWAYS_IGNORED):
                out.add(path, origin)

        for pkg, src, origin in self.cc_srcs:
            add(pkg, src, origin)
        for pkg, src, origin, macro in self.macro_srcs:
            before = len(out.origins)
            add(pkg, src, origin)
            if len(out.origins) != before:
                self.log.note("%s: counted C/C++ srcs of macro %s()" % (origin, macro))
        return out


# --------------------------------------------------------------------------
# CMake
# --------------------------------------------------------------------------

class CMakeParseError(Exception):
    pass


def tokenize_cmake(text, path):
    """Returns [(command_name_lower, [(arg, kind)], line)], kind: q(uoted), b(racket), u(nquoted)."""
    cmds = []
    i, n, line = 0, len(text), 1

    def bracket_len(pos):
        m = re.match(r"\[(=*)\[", text[pos:])
        return m

    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
            continue
        if c in " \t\r":
            i += 1
            continue
        if c == "#":
            m = bracket_len(i + 1)
            if m:
                close = "]" + m.group(1) + "]"
                j = text.find(close, i + 1 + m.end())
                j = n if j < 0 else j + len(close)
                line += text.count("\n", i, j)
                i = j
            else:
                j = text.find("\n", i)
                i = n if j < 0 else j
            continue
        m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[i:])
        if not m:
            raise CMakeParseError("%s:%d: unexpected %r" % (path, line, c))
        name = m.group(0).lower()
        cmd_line = line
        i += m.end()
        while i < n and text[i] in " \t":
            i += 1
        if i >= n or text[i] != "(":
            raise CMakeParseError("%s:%d: expected '(' after %s" % (path, line, name))
        i += 1
        depth = 1
        args = []
        while True:
            if i >= n:
                raise CMakeParseError("%s:%d: unterminated %s(" % (path, cmd_line, name))
            c = text[i]
            if c == "\n":
                line += 1
                i += 1
            elif c in " \t\r":
                i += 1
            elif c == "(":
                depth += 1
                args.append(("(", "u"))
                i += 1
            elif c == ")":
                depth -= 1
                i += 1
                if depth == 0:
                    break
                args.append((")", "u"))
            elif c == "#":
                m2 = bracket_len(i + 1)
                if m2:
                    close = "]" + m2.group(1) + "]"
                    j = text.find(close, i + 1 + m2.end())
                    j = n if j < 0 else j + len(close)
                else:
                    j = text.find("\n", i)
                    j = n if j < 0 else j
                line += text.count("\n", i, j)
                i = j
            elif c == "[" and bracket_len(i):
                m2 = bracket_len(i)
                close = "]" + m2.group(1) + "]"
                start = i + m2.end()
                j = text.find(close, start)
                if j < 0:
                    raise CMakeParseError("%s:%d: unterminated bracket argument" % (path, line))
                content = text[start:j]
                if content.startswith("\n"):
                    content = content[1:]
                line += text.count("\n", i, j)
                args.append((content, "b"))
                i = j + len(close)
            elif c == '"':
                j = i + 1
                buf = []
                while j < n and text[j] != '"':
                    if text[j] == "\\" and j + 1 < n:
                        nxt = text[j + 1]
                        if nxt == "\n":
                            line += 1
                        elif nxt == "n":
                            buf.append("\n")
                        elif nxt == "t":
                            buf.append("\t")
                        elif nxt in "$@;":
                            buf.append("\\" + nxt)  # keep escaping for expansion
                        else:
                            buf.append(nxt)
                        j += 2
                        continue
                    if text[j] == "\n":
                        line += 1
                    buf.append(text[j])
                    j += 1
                args.append(("".join(buf), "q"))
                i = j + 1
            else:
                j = i
                buf = []
                while j < n and text[j] not in ' \t\r\n()#"':
                    if text[j] == "\\" and j + 1 < n:
                        buf.append(text[j : j + 2])
                        j += 2
                        continue
                    # a ${...} may contain anything but whitespace
                    buf.append(text[j])
                    j += 1
                args.append(("".join(buf), "u"))
                i = j
        cmds.append((name, args, cmd_line))
    return cmds


class Return(Exception):
    pass


class Scope:
    def __init__(self, parent=None, vars=None):
        self.parent = parent
        self.vars = dict(vars if vars is not None else (parent.vars if parent else {}))


class CMakeProject:
    def __init__(self, root, log):
        self.root = os.path.abspath(root)
        self.log = log
        self.sources = Sources()
        self.functions = {}  # name -> (kind, params, body)
        self.generated = set()  # repo-relative or BINARY_DIR paths
        self.visited = set()
        self.parsed = {}

    # -- paths --------------------------------------------------------------
    def rel(self, abspath):
        return norm(os.path.relpath(abspath, self.root))

    def binary_dir(self, src_rel):
        return BINARY_DIR + ("/" + src_rel if src_rel else "")

    # -- expansion ----------------------------------------------------------
    def expand(self, s, scope):
        """Expands ${VAR}, $ENV{VAR}, $CACHE{VAR}, innermost first."""
        pattern = re.compile(r"\$(ENV|CACHE)?\{([^${}]*)\}")
        for _ in range(100):
            m = pattern.search(s)
            if not m:
                break
            if m.group(1) == "ENV":
                val = ""
            else:
                val = scope.vars.get(m.group(2), "")
            s = s[: m.start()] + val + s[m.end() :]
        return s.replace("\\$", "$").replace("\\;", "\x00")

    def eval_args(self, args, scope):
        out = []
        for text, kind in args:
            if kind == "b":
                out.append(text)  # bracket arguments are literal
                continue
            val = self.expand(text, scope)
            if kind == "q":
                out.append(val.replace("\x00", ";"))
            else:
                if val == "":
                    continue
                out.extend(v.replace("\x00", ";") for v in val.split(";") if v != "")
        return out

    # -- block structure ------------------------------------------------------
    def build_tree(self, cmds, path):
        """Nests if/foreach/while/function/macro/block bodies."""
        openers = {
            "if": "endif",
            "foreach": "endforeach",
            "while": "endwhile",
            "function": "endfunction",
            "macro": "endmacro",
            "block": "endblock",
        }
        stack = [("<file>", [], None, 0)]
        for name, args, line in cmds:
            if name in openers:
                stack.append((name, [], args, line))
            elif name in openers.values():
                if len(stack) == 1 or openers[stack[-1][0]] != name:
                    raise CMakeParseError("%s:%d: unmatched %s()" % (path, line, name))
                opener, body, oargs, oline = stack.pop()
                stack[-1][1].append((opener, oargs, oline, body))
            else:
                stack[-1][1].append((name, args, line, None))
        if len(stack) != 1:
            raise CMakeParseError("%s:%d: unterminated %s()" % (path, stack[-1][3], stack[-1][0]))
        return stack[0][1]

    def parse_file(self, path):
        if path not in self.parsed:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            self.parsed[path] = self.build_tree(tokenize_cmake(text, path), path)
        return self.parsed[path]

    # -- running --------------------------------------------------------------
    def run(self):
        top = os.path.join(self.root, "CMakeLists.txt")
        if not os.path.exists(top):
            raise CMakeParseError("%s: no top-level CMakeLists.txt" % self.root)
        scope = Scope()
        for var in ("CMAKE_SOURCE_DIR", "PROJECT_SOURCE_DIR"):
            scope.vars[var] = self.root
        for var in ("CMAKE_BINARY_DIR", "PROJECT_BINARY_DIR"):
            scope.vars[var] = BINARY_DIR
        self.run_dir(self.root, scope)
        self._warn_unreached()

    def _warn_unreached(self):
        ignored = read_ignored(self.root)
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel = self.rel(dirpath)
            dirnames[:] = [
                d
                for d in dirnames
                if d != ".git"
                and not (rel == "" and d.startswith("bazel-"))
                and not any(under(norm(os.path.join(rel, d)), i) for i in ignored)
                and not os.path.exists(os.path.join(dirpath, d, "CMakeCache.txt"))
            ]
            if "CMakeLists.txt" in filenames:
                path = os.path.join(dirpath, "CMakeLists.txt")
                if os.path.abspath(path) not in self.visited:
                    with open(path, encoding="utf-8") as f:
                        own_project = re.search(r"^\s*project\s*\(", f.read(), re.M | re.I)
                    if own_project:
                        self.log.note(
                            "%s is a separate CMake project (not reached by "
                            "add_subdirectory()), not compared" % self.rel(path)
                        )
                        continue
                    self.log.warn(
                        "%s is not reached by add_subdirectory() from the top-level "
                        "CMakeLists.txt (CMake ignores it)" % self.rel(path)
                    )

    def run_dir(self, src_dir, parent_scope):
        path = os.path.join(src_dir, "CMakeLists.txt")
        if not os.path.exists(path):
            self.log.warn("add_subdirectory: %s does not exist" % self.rel(path))
            return
        self.visited.add(os.path.abspath(path))
        scope = Scope(parent_scope)
        rel = self.rel(src_dir)
        scope.vars["CMAKE_CURRENT_SOURCE_DIR"] = src_dir
        scope.vars["CMAKE_CURRENT_BINARY_DIR"] = self.binary_dir(rel)
        scope.vars["CMAKE_CURRENT_LIST_DIR"] = src_dir
        scope.vars["CMAKE_CURRENT_LIST_FILE"] = path
        try:
            self.run_block(self.parse_file(path), scope, path)
        except Return:
            pass

    def run_block(self, block, scope, path):
        for name, args, line, body in block:
            self.run_command(name, args, line, body, scope, path)

    def origin(self, path, line):
        return "%s:%d" % (self.rel(path), line)

    def run_command(self, name, args, line, body, scope, path):
        if name == "if":
            self.run_if(args, body, scope, path)
            return
        if name == "foreach":
            self.run_foreach(args, body, scope, path)
            return
        if name in ("while", "block"):
            self.run_block([c for c in body if c[0] not in ("break", "continue")], scope, path)
            return
        if name in ("function", "macro"):
            vals = self.eval_args(args, scope)
            if vals:
                self.functions[vals[0].lower()] = (name, vals[1:], body, path)
            return

        vals = self.eval_args(args, scope)
        origin = self.origin(path, line)
        cur_dir = scope.vars.get("CMAKE_CURRENT_SOURCE_DIR", self.root)

        if name == "set":
            if not vals:
                return
            var, values = vals[0], vals[1:]
            parent = False
            if "CACHE" in values:
                values = values[: values.index("CACHE")]
            if values and values[-1] == "PARENT_SCOPE":
                values = values[:-1]
                parent = True
            value = ";".join(values)
            target = scope.parent if parent and scope.parent else scope
            if values or parent:
                target.vars[var] = value
            else:
                target.vars.pop(var, None)
            self.maybe_source_var(var, values, cur_dir, origin)
        elif name == "unset":
            if vals:
                scope.vars.pop(vals[0], None)
        elif name == "list":
            self.run_list(vals, scope, cur_dir, origin)
        elif name == "file":
            self.run_file(vals, scope, cur_dir)
        elif name == "project":
            scope.vars["PROJECT_SOURCE_DIR"] = cur_dir
            scope.vars["PROJECT_BINARY_DIR"] = scope.vars.get("CMAKE_CURRENT_BINARY_DIR", BINARY_DIR)
            if vals:
                scope.vars["PROJECT_NAME"] = vals[0]
                scope.vars[vals[0] + "_SOURCE_DIR"] = cur_dir
        elif name == "add_library":
            self.add_target_sources(vals, cur_dir, origin, library=True)
        elif name == "add_executable":
            self.add_target_sources(vals, cur_dir, origin, library=False)
        elif name == "target_sources":
            items = [
                v
                for v in vals[1:]
                if v not in ("INTERFACE", "PUBLIC", "PRIVATE", "FILE_SET", "TYPE", "BASE_DIRS", "FILES")
            ]
            self.add_sources(items, cur_dir, origin)
        elif name == "add_custom_command":
            if vals and vals[0] == "OUTPUT":
                for v in vals[1:]:
                    if v.isupper() and v in (
                        "COMMAND", "MAIN_DEPENDENCY", "DEPENDS", "BYPRODUCTS", "IMPLICIT_DEPENDS",
                        "WORKING_DIRECTORY", "COMMENT", "DEPFILE", "JOB_POOL", "VERBATIM",
                        "APPEND", "USES_TERMINAL", "COMMAND_EXPAND_LISTS",
                    ):
                        break
                    self.generated.add(self.resolve_generated(v, scope))
        elif name == "add_subdirectory":
            if vals:
                sub = vals[0]
                sub_dir = sub if os.path.isabs(sub) else os.path.join(cur_dir, sub)
                sub_dir = os.path.normpath(sub_dir)
                if not any(under(self.rel(sub_dir), i) for i in ALWAYS_IGNORED):
                    self.run_dir(sub_dir, scope)
        elif name == "include":
            self.run_include(vals, scope, path, cur_dir)
        elif name == "cmake_parse_arguments":
            self.run_parse_arguments(vals, scope)
        elif name == "return":
            raise Return()
        elif name in self.functions:
            self.call_function(name, vals, scope)

    def eval_condition(self, args, scope):
        """True/False for `[NOT] <a> STREQUAL <b>` (the standalone-project idiom
        `CMAKE_SOURCE_DIR STREQUAL CMAKE_CURRENT_SOURCE_DIR`); None (unknown)
        for anything else, e.g. options: then the branch is taken."""
        tokens = []
        for text, kind in args:
            val = self.expand(text, scope).replace("\x00", ";") if kind != "b" else text
            if kind == "u" and val in scope.vars:
                val = scope.vars[val]
            tokens.append((val, kind == "u" and text in ("NOT", "STREQUAL")))
        negate = False
        if tokens and tokens[0] == ("NOT", True):
            negate = True
            tokens = tokens[1:]
        if len(tokens) == 3 and tokens[1] == ("STREQUAL", True):
            result = tokens[0][0] == tokens[2][0]
            return not result if negate else result
        return None

    def run_if(self, args, body, scope, path):
        # Branches whose condition cannot be decided are all taken (a source
        # listed in any of them counts as listed); a decided condition picks
        # its branch as CMake would.
        branches = [(args, [])]
        for cmd in body:
            if cmd[0] == "elseif":
                branches.append((cmd[1], []))
            elif cmd[0] == "else":
                branches.append((None, []))
            else:
                branches[-1][1].append(cmd)
        for cond, cmds in branches:
            value = True if cond is None else self.eval_condition(cond, scope)
            if value is False:
                continue
            self.run_block(cmds, scope, path)
            if value is True:
                break

    def run_foreach(self, args, body, scope, path):
        vals = self.eval_args(args, scope)
        if not vals:
            return
        var, rest = vals[0], vals[1:]
        items = []
        if rest and rest[0] == "RANGE":
            nums = [int(x) for x in rest[1:] if re.fullmatch(r"-?\d+", x)]
            if len(nums) == 1:
                items = [str(x) for x in range(0, nums[0] + 1)]
            elif len(nums) >= 2:
                step = nums[2] if len(nums) > 2 else 1
                items = [str(x) for x in range(nums[0], nums[1] + 1, step)]
        elif rest and rest[0] == "IN":
            mode = None
            for v in rest[1:]:
                if v in ("LISTS", "ITEMS", "ZIP_LISTS"):
                    mode = v
                elif mode == "LISTS" or mode == "ZIP_LISTS":
                    items.extend(x for x in scope.vars.get(v, "").split(";") if x)
                elif mode == "ITEMS":
                    items.append(v)
        else:
            items = rest
        for item in items:
            scope.vars[var] = item
            self.run_block(body, scope, path)

    def run_list(self, vals, scope, cur_dir, origin):
        if len(vals) < 2:
            return
        op, var, rest = vals[0], vals[1], vals[2:]
        cur = [x for x in scope.vars.get(var, "").split(";") if x]
        if op == "APPEND":
            cur = cur + rest
            self.maybe_source_var(var, rest, cur_dir, origin)
        elif op == "PREPEND":
            cur = rest + cur
            self.maybe_source_var(var, rest, cur_dir, origin)
        elif op == "REMOVE_ITEM":
            cur = [x for x in cur if x not in rest]
        elif op == "REMOVE_DUPLICATES":
            seen = []
            for x in cur:
                if x not in seen:
                    seen.append(x)
            cur = seen
        else:
            return
        scope.vars[var] = ";".join(cur)

    def run_file(self, vals, scope, cur_dir):
        if len(vals) < 2 or vals[0] not in ("GLOB", "GLOB_RECURSE"):
            return
        recurse = vals[0] == "GLOB_RECURSE"
        var = vals[1]
        relative = None
        patterns = []
        it = iter(vals[2:])
        for v in it:
            if v == "RELATIVE":
                relative = next(it, None)
            elif v == "LIST_DIRECTORIES":
                next(it, None)
            elif v in ("CONFIGURE_DEPENDS", "FOLLOW_SYMLINKS"):
                continue
            else:
                patterns.append(v if os.path.isabs(v) else os.path.join(cur_dir, v))
        found = []
        for pat in patterns:
            base = os.path.dirname(pat)
            fpat = os.path.basename(pat)
            walker = os.walk(base) if recurse else [(base, [], os.listdir(base) if os.path.isdir(base) else [])]
            for dirpath, _, filenames in walker:
                for fn in filenames:
                    if fnmatch.fnmatchcase(fn, fpat):
                        full = os.path.join(dirpath, fn)
                        found.append(os.path.relpath(full, relative) if relative else full)
        scope.vars[var] = ";".join(sorted(found))

    def run_include(self, vals, scope, path, cur_dir):
        if not vals:
            return
        name = vals[0]
        candidates = []
        if os.path.isabs(name):
            candidates.append(name)
        elif name.endswith(".cmake") or "/" in name:
            candidates.append(os.path.join(cur_dir, name))
        else:
            for d in scope.vars.get("CMAKE_MODULE_PATH", "").split(";"):
                if d:
                    candidates.append(os.path.join(d, name + ".cmake"))
        for cand in candidates:
            cand = os.path.normpath(cand)
            if os.path.exists(cand) and not self.rel(cand).startswith(".."):
                saved = (scope.vars.get("CMAKE_CURRENT_LIST_DIR"), scope.vars.get("CMAKE_CURRENT_LIST_FILE"))
                scope.vars["CMAKE_CURRENT_LIST_DIR"] = os.path.dirname(cand)
                scope.vars["CMAKE_CURRENT_LIST_FILE"] = cand
                try:
                    self.run_block(self.parse_file(cand), scope, cand)
                except Return:
                    pass
                scope.vars["CMAKE_CURRENT_LIST_DIR"], scope.vars["CMAKE_CURRENT_LIST_FILE"] = saved
                return
        # Modules of CMake itself (GNUInstallDirs, GoogleTest, ...): nothing to read.

    def run_parse_arguments(self, vals, scope):
        if vals and vals[0] == "PARSE_ARGV":
            if len(vals) < 6:
                return
            start = int(vals[1]) if vals[1].isdigit() else 0
            prefix, options, ones, multis = vals[2:6]
            argv = [scope.vars.get("ARGV%d" % i) for i in range(start, int(scope.vars.get("ARGC", "0")))]
            argv = [a for a in argv if a is not None]
        else:
            if len(vals) < 4:
                return
            prefix, options, ones, multis = vals[0:4]
            argv = vals[4:]
        options = [x for x in options.split(";") if x]
        ones = [x for x in ones.split(";") if x]
        multis = [x for x in multis.split(";") if x]
        for k in options + ones + multis:
            scope.vars.pop(prefix + "_" + k, None)
        for k in options:
            scope.vars[prefix + "_" + k] = "FALSE"
        key = None
        unparsed = []
        for a in argv:
            if a in options:
                scope.vars[prefix + "_" + a] = "TRUE"
                key = None
            elif a in ones or a in multis:
                key = a
                if a in multis:
                    scope.vars.setdefault(prefix + "_" + a, "")
            elif key in ones:
                scope.vars[prefix + "_" + key] = a
                key = None
            elif key in multis:
                old = scope.vars.get(prefix + "_" + key, "")
                scope.vars[prefix + "_" + key] = old + ";" + a if old else a
            else:
                unparsed.append(a)
        scope.vars[prefix + "_UNPARSED_ARGUMENTS"] = ";".join(unparsed)

    def call_function(self, name, vals, scope):
        kind, params, body, path = self.functions[name]
        new = Scope(scope) if kind == "function" else scope
        for i, p in enumerate(params):
            new.vars[p] = vals[i] if i < len(vals) else ""
        new.vars["ARGC"] = str(len(vals))
        new.vars["ARGV"] = ";".join(vals)
        new.vars["ARGN"] = ";".join(vals[len(params) :])
        for i, v in enumerate(vals):
            new.vars["ARGV%d" % i] = v
        try:
            self.run_block(body, new, path)
        except Return:
            pass

    # -- sources --------------------------------------------------------------
    def maybe_source_var(self, var, values, cur_dir, origin):
        if re.search(r"_(SOURCES|SRCS)$", var):
            self.add_sources(values, cur_dir, origin)

    def add_target_sources(self, vals, cur_dir, origin, library):
        if len(vals) < 2:
            return
        rest = vals[1:]
        if "IMPORTED" in rest or "ALIAS" in rest:
            return
        skip = (
            ("STATIC", "SHARED", "MODULE", "OBJECT", "INTERFACE", "UNKNOWN", "EXCLUDE_FROM_ALL", "GLOBAL")
            if library
            else ("WIN32", "MACOSX_BUNDLE", "EXCLUDE_FROM_ALL")
        )
        self.add_sources([v for v in rest if v not in skip], cur_dir, origin)

    def resolve_generated(self, v, scope):
        if os.path.isabs(v):
            return norm(v) if v.startswith(BINARY_DIR) else self.rel(v)
        return norm(os.path.join(scope.vars.get("CMAKE_CURRENT_BINARY_DIR", BINARY_DIR), v))

    def add_sources(self, items, cur_dir, origin):
        for item in items:
            if "$<" in item or not is_c_source(item):
                continue
            if item.startswith(BINARY_DIR):
                continue  # generated in the build tree
            full = item if os.path.isabs(item) else os.path.join(cur_dir, item)
            rel = self.rel(os.path.normpath(full))
            if rel.startswith("../") or rel == "..":
                self.log.note("%s: %s is outside the source tree, ignored" % (origin, item))
                continue
            if rel in self.generated:
                continue
            cur_rel = self.rel(cur_dir)
            bin_candidate = norm(os.path.join(self.binary_dir(cur_rel), item)) if not os.path.isabs(item) else None
            if bin_candidate in self.generated:
                continue
            if any(under(rel, i) for i in ALWAYS_IGNORED):
                continue
            self.sources.add(rel, origin)


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------

def collect(root):
    log = Log()
    bazel = BazelWorkspace(root, log)
    bazel.load_all()
    bazel_sources = bazel.sources()
    cmake = CMakeProject(root, log)
    cmake.run()
    return bazel_sources, cmake.sources, log


def compare(root, out=sys.stdout, listing=False):
    try:
        bazel, cmake, log = collect(root)
    except (CMakeParseError, SyntaxError, RuntimeError, OSError) as e:
        print("check_source_lists: error: %s" % e, file=out)
        return 2
    b, c = bazel.paths(), cmake.paths()

    for w in log.warnings:
        print("check_source_lists: warning: %s" % w, file=out)
    for n in log.notes:
        print("check_source_lists: note: %s" % n, file=out)
    for side, srcs in (("Bazel", bazel), ("CMake", cmake)):
        missing = sorted(p for p in srcs.paths() if not os.path.exists(os.path.join(root, p)))
        for p in missing:
            print(
                "check_source_lists: warning: %s lists %s (%s), which does not exist"
                % (side, p, ", ".join(srcs.origins[p])),
                file=out,
            )

    if listing:
        for side, srcs in (("Bazel", bazel), ("CMake", cmake)):
            print("%s sources (%d):" % (side, len(srcs.origins)), file=out)
            for p in sorted(srcs.origins):
                print("  %-50s %s" % (p, ", ".join(srcs.origins[p])), file=out)

    status = 0
    if not b:
        print("check_source_lists: FAIL: no C/C++ sources found in the Bazel BUILD files", file=out)
        status = 1
    if not c:
        print("check_source_lists: FAIL: no C/C++ sources found in the CMakeLists.txt files", file=out)
        status = 1
    if status:
        return status
    only_b = sorted(b - c)
    only_c = sorted(c - b)
    if only_b or only_c:
        print("check_source_lists: FAIL: Bazel and CMake build different sources", file=out)
        if only_b:
            print("  only in Bazel (%d):" % len(only_b), file=out)
            for p in only_b:
                print("    %-50s %s" % (p, ", ".join(bazel.origins[p])), file=out)
        if only_c:
            print("  only in CMake (%d):" % len(only_c), file=out)
            for p in only_c:
                print("    %-50s %s" % (p, ", ".join(cmake.origins[p])), file=out)
        return 1
    print("check_source_lists: OK: Bazel and CMake both build the same %d sources" % len(b), file=out)
    return 0


def self_test(fixtures):
    """Each fixture folder holds an EXPECT file: first line the exit status,
    further lines substrings that the output must contain."""
    import io

    cases = sorted(
        d for d in os.listdir(fixtures) if os.path.exists(os.path.join(fixtures, d, "EXPECT"))
    )
    if not cases:
        print("self-test: no fixtures with an EXPECT file in %s" % fixtures)
        return 1
    failed = 0
    for case in cases:
        root = os.path.join(fixtures, case)
        with open(os.path.join(root, "EXPECT"), encoding="utf-8") as f:
            lines = [l.rstrip("\n") for l in f if l.strip()]
        want_status = int(lines[0])
        buf = io.StringIO()
        got = compare(root, out=buf)
        text = buf.getvalue()
        problems = []
        if got != want_status:
            problems.append("exit status %d, expected %d" % (got, want_status))
        for needle in lines[1:]:
            if needle not in text:
                problems.append("output lacks %r" % needle)
        if problems:
            failed += 1
            print("self-test: FAIL %s: %s\n%s" % (case, "; ".join(problems), text))
        else:
            print("self-test: ok   %s (exit %d)" % (case, got))
    print("self-test: %d passed, %d failed" % (len(cases) - failed, failed))
    return 1 if failed else 0


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    default_root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", nargs="?", default=default_root, help="repository root")
    ap.add_argument("--list", action="store_true", help="print both source lists")
    ap.add_argument(
        "--self-test",
        nargs="?",
        const=os.path.join(default_root, "tests", "tools", "fixtures"),
        metavar="FIXTURES",
        help="run the fixture cases (default: tests/tools/fixtures)",
    )
    args = ap.parse_args(argv)
    if args.self_test:
        return self_test(args.self_test)
    root = os.path.abspath(args.root)
    if not os.path.isdir(root):
        print("check_source_lists: error: %s is not a directory" % root)
        return 2
    return compare(root, listing=args.list)


if __name__ == "__main__":
    sys.exit(main())
