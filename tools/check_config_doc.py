#!/usr/bin/env python3
"""Checks that docs/configuration.md documents every field of every public
options struct.

Usage:
    check_config_doc.py INCLUDE_DIR DOC      check DOC against the headers
    check_config_doc.py --self-test FIXTURE_DIR
                                             run the fixture cases

Exit status: 0 when the page is complete and has nothing stale; 1 when a
struct or field is missing or a section or row is stale; 2 on a usage error
(no such directory or file, no options struct found).

The headers: every *.h under INCLUDE_DIR (recursively). Comments, string
literals and preprocessor lines are removed; then every
    typedef struct [TAG] { ... } NAME;
is read (tagless ones too). Its fields are the declarators of its members,
at any depth of nesting: `int a, b;` gives a and b, `int (*fn)(int, int);`
gives fn, `char name[N + 1];` gives name, `unsigned x : 3;` gives x, a
member of a nested struct or union type defined in place
(`struct { ... } inner;`) is the field `inner`, and the members of an
anonymous struct or union (`union { int a; long b; };`) are fields of the
enclosing struct, as in C11.

The page: each struct is a section whose heading is exactly
    ## `NAME`
and whose table rows name one field each: the first backticked word of a
row's first cell (so "`server`" and "[`server`](#cp_server_options)" both
name `server`). A table's header row (the row above its |---| line) is not a
field. Text outside such sections is not read.

Required: a section for every struct whose NAME ends in `_options`, with a
row for each of its fields. Sections for other structs of the headers
(those embedded in an options struct, say) are optional, and checked the
same way when present. Reported: a missing section, a missing field, a row
naming a field the struct does not have (stale), a section naming a struct
the headers do not have (stale), a duplicate section or row, and a body row
without a backticked name.

Self-test: FIXTURE_DIR holds include/ (headers) and one folder per case with
configuration.md and EXPECT; the first line of EXPECT is the exit status
wanted, each further line a substring the report must contain.

Python 3 standard library only.
"""

import io
import os
import re
import sys

PROG = "check_config_doc"
REQUIRED_SUFFIX = "_options"
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
C_KEYWORDS = {
    "const", "volatile", "restrict", "struct", "union", "enum", "signed",
    "unsigned", "short", "long", "int", "char", "float", "double", "void",
    "_Bool", "bool", "static", "extern", "register", "_Atomic", "inline",
}


# --- headers -----------------------------------------------------------------


def strip_code(text):
    """Removes comments, string and character literals (kept as "" / '')
    and preprocessor lines (with their continuations), keeping newlines so
    that line numbers stay right."""
    out = []
    i = 0
    n = len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start:
            j = i
            while j < n and text[j] in " \t":
                j += 1
            if j < n and text[j] == "#":
                # A directive, up to an unescaped newline; comments inside
                # it are skipped along with it.
                k = j
                while k < n:
                    if text[k] == "\\" and k + 1 < n and text[k + 1] == "\n":
                        out.append("\n")
                        k += 2
                        continue
                    if text.startswith("/*", k):
                        end = text.find("*/", k + 2)
                        end = n if end < 0 else end + 2
                        out.append("\n" * text.count("\n", k, end))
                        k = end
                        continue
                    if text[k] == "\n":
                        break
                    k += 1
                i = k
                continue
            at_line_start = False
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(" " + "\n" * text.count("\n", i, end))
            i = end
            continue
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if c == '"' or c == "'":
            k = i + 1
            while k < n and text[k] != c and text[k] != "\n":
                k += 2 if text[k] == "\\" else 1
            out.append(c + c)
            i = k + 1
            continue
        if c == "\n":
            at_line_start = True
        out.append(c)
        i += 1
    return "".join(out)


def matching(text, i, open_ch, close_ch):
    """Index of the bracket closing the one at text[i]."""
    depth = 0
    for k in range(i, len(text)):
        if text[k] == open_ch:
            depth += 1
        elif text[k] == close_ch:
            depth -= 1
            if depth == 0:
                return k
    raise ValueError("unbalanced %s" % open_ch)


def split_top(text, sep):
    """Splits on `sep` outside (), [] and {}."""
    parts = []
    depth = 0
    start = 0
    for k, c in enumerate(text):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(text[start:k])
            start = k + 1
    parts.append(text[start:])
    return parts


def remove_attributes(text):
    """Drops __attribute__((...)), alignas(...) / _Alignas(...)."""
    pattern = re.compile(r"\b(__attribute__|_Alignas|alignas|__declspec)\s*\(")
    while True:
        m = pattern.search(text)
        if m is None:
            return text
        end = matching(text, m.end() - 1, "(", ")")
        text = text[: m.start()] + " " + text[end + 1:]


FUNCTION_POINTER = re.compile(
    r"^[^(]*\(\s*(?:\*\s*(?:(?:const|volatile|restrict)\b\s*)*)+"
    r"(\w+)\s*(?:\[[^\]]*\]\s*)*\)")


def declarator_name(decl, with_type=False):
    """The name a declarator declares: `*name`, `name[N]`, `(*name)(...)`,
    `(*name[N])(...)`, `name : 3`, `*const name`; None when there is none.
    with_type: `decl` also holds the type specifiers (the first declarator
    of a declaration), so a lone identifier is a type, not a name
    (`uint32_t : 3;`)."""
    decl = decl.strip()
    if not decl:
        return None
    # Function pointers and pointers to arrays: the name is inside the
    # first parentheses, after the '*'s.
    m = FUNCTION_POINTER.match(decl)
    if m:
        return m.group(1)
    decl = re.sub(r"\[[^\]]*\]", " ", decl)  # arrays
    decl = decl.split(":", 1)[0]  # bit-fields
    idents = IDENT.findall(decl)
    if with_type and len(idents) < 2:
        return None
    words = [w for w in idents if w not in C_KEYWORDS]
    return words[-1] if words else None


def member_fields(body):
    """Field names declared in a struct or union body (without its braces)."""
    fields = []
    rest = body
    while rest.strip():
        # One member declaration: up to a ';' outside brackets.
        depth = 0
        end = None
        for k, c in enumerate(rest):
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
            elif c == ";" and depth == 0:
                end = k
                break
        if end is None:
            decl, rest = rest, ""
        else:
            decl, rest = rest[:end], rest[end + 1:]
        decl = remove_attributes(decl).strip()
        if not decl:
            continue
        brace = decl.find("{")
        if brace >= 0:
            close = matching(decl, brace, "{", "}")
            inner = decl[brace + 1: close]
            head = decl[:brace]
            after = decl[close + 1:]
            if re.match(r"^\s*enum\b", head):
                inner_fields = []  # enumerators are not fields
            else:
                inner_fields = member_fields(inner)
            names = [declarator_name(d) for d in split_top(after, ",")]
            names = [x for x in names if x]
            if names:
                fields.extend(names)
            else:
                # An anonymous struct or union: its members are ours.
                fields.extend(inner_fields)
            continue
        # The first part holds the type and the first declarator.
        for k, part in enumerate(split_top(decl, ",")):
            name = declarator_name(part, with_type=k == 0)
            if name:
                fields.append(name)
    return fields


TYPEDEF_STRUCT = re.compile(r"\btypedef\s+struct\b\s*(\w+)?\s*\{")


def parse_header(path):
    """[(name, [fields], line)] for every typedef struct with a body."""
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    text = strip_code(raw)
    found = []
    for m in TYPEDEF_STRUCT.finditer(text):
        open_at = m.end() - 1
        try:
            close = matching(text, open_at, "{", "}")
        except ValueError:
            raise ValueError("%s: unbalanced braces in the struct at line %d"
                             % (path, text.count("\n", 0, m.start()) + 1))
        after = text[close + 1:]
        semi = after.find(";")
        if semi < 0:
            continue
        names = [declarator_name(d) for d in split_top(after[:semi], ",")]
        names = [x for x in names if x]
        if not names:
            continue
        fields = member_fields(text[open_at + 1: close])
        line = text.count("\n", 0, m.start()) + 1
        found.append((names[0], fields, line))
    return found


def read_headers(include_dir):
    """{name: (fields, "path:line")} over every header under include_dir."""
    structs = {}
    for root, dirs, files in os.walk(include_dir):
        dirs.sort()
        for name in sorted(files):
            if not name.endswith(".h"):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, include_dir)
            for sname, fields, line in parse_header(path):
                structs.setdefault(sname, (fields, "%s:%d" % (rel, line)))
    return structs


# --- the page ----------------------------------------------------------------

SECTION = re.compile(r"^##\s+`([A-Za-z_][A-Za-z0-9_]*)`\s*$")
ANY_HEADING = re.compile(r"^#{1,2}\s")
SEPARATOR = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
BACKTICKED = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


def first_cell(row):
    cells = row.strip().strip("|").split("|")
    return cells[0] if cells else ""


def read_doc(path):
    """(sections, problems): sections maps a struct name to
    (heading line, [(field, line)]); problems lists what could not be read
    as a field row."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    sections = {}
    problems = []
    current = None
    in_fence = False
    for idx, line in enumerate(lines):
        lineno = idx + 1
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        m = SECTION.match(line)
        if m:
            name = m.group(1)
            if name in sections:
                problems.append("duplicate section: %s (lines %d and %d)"
                                % (name, sections[name][0], lineno))
                current = None
            else:
                sections[name] = (lineno, [])
                current = name
            continue
        if ANY_HEADING.match(line):
            current = None
            continue
        if current is None or not line.lstrip().startswith("|"):
            continue
        if SEPARATOR.match(line.strip()):
            continue
        nxt = lines[idx + 1] if idx + 1 < len(lines) else ""
        if nxt.lstrip().startswith("|") and SEPARATOR.match(nxt.strip()):
            continue  # a table's header row
        m = BACKTICKED.search(first_cell(line))
        if m is None:
            problems.append("row without a `field` in its first column: %s "
                            "line %d: %s" % (current, lineno, line.strip()))
            continue
        sections[current][1].append((m.group(1), lineno))
    return sections, problems


# --- the check ---------------------------------------------------------------


def check(include_dir, doc, out=sys.stdout):
    if not os.path.isdir(include_dir):
        print("%s: error: %s is not a directory" % (PROG, include_dir), file=out)
        return 2
    if not os.path.isfile(doc):
        print("%s: error: %s is not a file" % (PROG, doc), file=out)
        return 2
    try:
        structs = read_headers(include_dir)
    except (ValueError, OSError, UnicodeDecodeError) as e:
        print("%s: error: %s" % (PROG, e), file=out)
        return 2
    required = sorted(n for n in structs if n.endswith(REQUIRED_SUFFIX))
    if not required:
        print("%s: error: no typedef struct ..._options in %s"
              % (PROG, include_dir), file=out)
        return 2
    sections, problems = read_doc(doc)
    checked_structs = 0
    checked_fields = 0
    for name in required:
        if name not in sections:
            problems.append("missing section: %s (%s): add ## `%s`"
                            % (name, structs[name][1], name))
    for name in sorted(sections):
        heading, rows = sections[name]
        if name not in structs:
            problems.append("stale section: %s (line %d): no such struct in "
                            "the headers" % (name, heading))
            continue
        fields, where = structs[name]
        checked_structs += 1
        checked_fields += len(fields)
        seen = {}
        for field, lineno in rows:
            if field in seen:
                problems.append("duplicate row: %s.%s (lines %d and %d)"
                                % (name, field, seen[field], lineno))
                continue
            seen[field] = lineno
            if field not in fields:
                problems.append("stale field: %s.%s (line %d): %s has no "
                                "such field" % (name, field, lineno, name))
        for field in fields:
            if field not in seen:
                problems.append("missing field: %s.%s (%s): no row in "
                                "section ## `%s`" % (name, field, where, name))
    if problems:
        print("%s: %s is out of date with %s:" % (PROG, doc, include_dir),
              file=out)
        for p in problems:
            print("  " + p, file=out)
        print("%s: FAILED: %d problem(s)" % (PROG, len(problems)), file=out)
        return 1
    print("%s: OK: %d structs, %d fields" % (PROG, checked_structs,
                                             checked_fields), file=out)
    return 0


def self_test(fixtures):
    include = os.path.join(fixtures, "include")
    if not os.path.isdir(include):
        print("self-test: no include/ folder in %s" % fixtures)
        return 1
    cases = sorted(
        d for d in os.listdir(fixtures)
        if os.path.isfile(os.path.join(fixtures, d, "EXPECT")))
    if not cases:
        print("self-test: no cases (folders with an EXPECT file) in %s"
              % fixtures)
        return 1
    failed = 0
    for case in cases:
        root = os.path.join(fixtures, case)
        with open(os.path.join(root, "EXPECT"), encoding="utf-8") as f:
            lines = [l.rstrip("\n") for l in f if l.strip()]
        want = int(lines[0])
        buf = io.StringIO()
        got = check(include, os.path.join(root, "configuration.md"), out=buf)
        text = buf.getvalue()
        problems = []
        if got != want:
            problems.append("exit status %d, expected %d" % (got, want))
        for needle in lines[1:]:
            if needle not in text:
                problems.append("output lacks %r" % needle)
        if problems:
            failed += 1
            print("self-test: FAIL %s: %s\n%s" % (case, "; ".join(problems),
                                                  text))
        else:
            print("self-test: ok   %s (exit %d)" % (case, got))
    print("self-test: %d passed, %d failed" % (len(cases) - failed, failed))
    return 1 if failed else 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "--self-test":
        return self_test(argv[1])
    if len(argv) == 2 and not argv[0].startswith("-"):
        return check(argv[0], argv[1])
    print("usage: check_config_doc.py INCLUDE_DIR DOC\n"
          "       check_config_doc.py --self-test FIXTURE_DIR",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
