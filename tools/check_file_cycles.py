#!/usr/bin/env python3
"""Fails when the library's source files call each other in a circle.

Each object file of libcplugin is a node; file A depends on file B when A
uses a symbol B defines (nm: A lists it undefined, B defines it). Files that
reach each other form a cycle (a strongly connected component). Cycles make
a file impossible to understand, test or replace on its own, so they are
broken by moving what both sides share into a leaf file.

Some older cycles remain. They are listed, one per line, in the known-cycles
file; the check fails on any cycle not listed there, on a listed cycle that
grew, and on a listed cycle that is gone (so the list shrinks as they are
fixed and never hides a new one).

Usage:
  check_file_cycles.py --known FILE OBJECT...   (OBJECT may be a ;-list)
  check_file_cycles.py --self-test
"""
import os
import subprocess
import sys
import tempfile


def node_name(obj):
    """runtime/.../cplugin.dir/src/transport/client.c.o -> transport/client.c"""
    path = obj.replace(os.sep, "/")
    if "/src/" in path:
        path = path.rsplit("/src/", 1)[1]
    return path[:-2] if path.endswith(".o") else path


def symbols(obj):
    out = subprocess.run(["nm", "--defined-only", "-g", obj],
                         capture_output=True, text=True, check=True).stdout
    defined = {line.split()[-1] for line in out.splitlines() if line.strip()}
    out = subprocess.run(["nm", "-u", obj],
                         capture_output=True, text=True, check=True).stdout
    used = {line.split()[-1] for line in out.splitlines() if line.strip()}
    return defined, used


def graph(objects):
    defs, uses = {}, {}
    owner = {}
    for obj in objects:
        name = node_name(obj)
        defs[name], uses[name] = symbols(obj)
        for sym in defs[name]:
            owner[sym] = name
    return {name: {owner[s] for s in uses[name]
                   if s in owner and owner[s] != name}
            for name in defs}


def cycles(g):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(frozenset(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def read_known(path):
    known = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                known.append(frozenset(line.split()))
    return known


def check(objects, known):
    """The problems, as lines of text (none: the check passes)."""
    g = graph(objects)
    problems = []
    found = cycles(g)
    for comp in found:
        if comp in known:
            continue
        grown = [k for k in known if k < comp]
        what = "grew" if grown else "is new"
        problems.append("cycle %s: %s" % (what, " ".join(sorted(comp))))
        for a in sorted(comp):
            for b in sorted(g[a] & comp):
                problems.append("    %s -> %s" % (a, b))
    for k in known:
        if k not in found:
            problems.append("listed cycle is gone (remove it from the list): "
                            + " ".join(sorted(k)))
    return problems


def self_test():
    sources = {
        "src/a/leaf.c": "int leaf(void) { return 1; }\n",
        "src/a/one.c": "int two(void); int leaf(void);\n"
                       "int one(void) { return two() + leaf(); }\n",
        "src/a/two.c": "int one(void);\n"
                       "int two(void) { return 0; }\n"
                       "int two_b(void) { return one(); }\n",
    }
    with tempfile.TemporaryDirectory() as d:
        objects = []
        for rel, text in sources.items():
            src = os.path.join(d, rel)
            os.makedirs(os.path.dirname(src), exist_ok=True)
            with open(src, "w") as f:
                f.write(text)
            subprocess.run(["cc", "-c", src, "-o", src + ".o"], check=True)
            objects.append(src + ".o")
        pair = frozenset(["a/one.c", "a/two.c"])
        results = {
            "unlisted": check(objects, []),
            "listed": check(objects, [pair]),
            "stale": check(objects, [pair, frozenset(["a/leaf.c", "a/x.c"])]),
        }
    ok = (len(results["unlisted"]) == 3 and
          results["unlisted"][0] == "cycle is new: a/one.c a/two.c" and
          results["listed"] == [] and
          len(results["stale"]) == 1 and
          "gone" in results["stale"][0])
    for name, lines in results.items():
        print("%s: %s" % (name, lines or "passes"))
    print("self-test", "passed" if ok else "FAILED")
    return 0 if ok else 1


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) < 4 or argv[1] != "--known":
        print(__doc__, file=sys.stderr)
        return 2
    objects = [o for arg in argv[3:] for o in arg.split(";") if o]
    known = read_known(argv[2])
    problems = check(objects, known)
    for line in problems:
        print(line)
    if problems:
        print("file cycles: FAILED (see tools/check_file_cycles.py)")
        return 1
    print("file cycles: none but the %d listed in %s" % (len(known), argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
