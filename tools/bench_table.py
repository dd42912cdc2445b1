#!/usr/bin/env python3
"""Turns Google Benchmark JSON files (tools/bench.sh) into Markdown tables.

Usage:
    bench_table.py FILE.json...          print the tables
    bench_table.py --merge OLD NEW       print OLD with NEW's runs replacing
                                         the runs of the same name (a FILTER
                                         rerun of tools/bench.sh)
    bench_table.py --stamp FILE TEXT     mark a fresh output: TEXT (the
                                         cplugin commit) and the run's date
                                         on every entry, for provenance
    bench_table.py --self-test [DIR]     check the tables of the fixtures in
                                         DIR (default tests/tools/bench_table)
                                         against DIR/expected.md, and --merge

Tables (python3 standard library only):

1. Per binary, time benchmarks: a row per benchmark and arguments, a column
   per thread count (1, 2, 4, 8; a column appears when any row has it). A
   cell is the real time per operation, aggregated over the threads (wall
   time / operations of all threads), and millions of operations per
   second (items/s, or 1e9 / time when no items are reported).
2. Memory: every benchmark with counters named bytes_per_*: a row per
   counter, a column per size (the benchmark's last argument); then the
   same for heap_bytes_per_* (malloc's count, see memory_bench.cc).
3. Scalability at each size: token validation, a rate check, a registry
   resolve (one thread) and the memory counters, from the rows named in
   SCALABILITY_TIME and SCALABILITY_MEMORY.
4. Runs: per binary, the runs whose results are shown (date, load average
   at the start, the cplugin commit) and how many benchmarks each measured.

Each figure is the median of the repetitions: Google Benchmark's "median"
aggregate when there is one, otherwise the median of the iteration entries
(a single one in a --quick run). Runs that reported an error show it.
"""

import json
import os
import statistics
import sys

# Name parts that describe how a benchmark ran, not what it measures.
RUN_PARTS = ("real_time", "manual_time", "process_time")
RUN_PREFIXES = ("threads:", "iterations:", "min_time:", "repeats:")

MEMORY_LABELS = [
    ("bytes_per_token", "live token (BM_TokenMemory)"),
    ("bytes_per_bucket", "rate-limit bucket, policy-shaped key (BM_BucketMemory)"),
    ("bytes_per_registration", "registration, one per runtime (BM_RegistrationMemory)"),
    ("bytes_per_extra_registration",
     "a further registration by a known runtime (BM_RegistrationMemory)"),
    ("bytes_per_plugin",
     "plugin: token + bucket + registration in one state (BM_PluginMemory)"),
]

# (column, row key with {n} for the size); one thread.
SCALABILITY_TIME = [
    ("token validation", "BM_ValidateToken/live:{n}"),
    ("rate check (policy keys)", "BM_RateLimiter_MultipleKeys/policy_keys/keys:{n}"),
    ("registry resolve (first)", "BM_Resolve/first/providers:{n}"),
    ("resolve by provider", "BM_ResolveByProvider/providers:{n}"),
]
SCALABILITY_MEMORY = [
    ("B/token", "bytes_per_token"),
    ("B/bucket", "bytes_per_bucket"),
    ("B/registration", "bytes_per_registration"),
    ("B/plugin", "bytes_per_plugin"),
]

# The field bench.sh adds to every entry: the date of the run that
# measured it.
RUN_TAG = "cplugin_run"

# Fields of a benchmark entry that are not user counters.
NOT_COUNTERS = {
    "name", "family_index", "per_family_instance_index", "run_name",
    "run_type", "repetitions", "repetition_index", "threads",
    "aggregate_name", "aggregate_unit", "iterations", "real_time",
    "cpu_time", "time_unit", "items_per_second", "bytes_per_second",
    "error_occurred", "error_message", "label", RUN_TAG,
}

NS_PER_UNIT = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def row_key(run_name):
    """'BM_X/live:1000/real_time/threads:2' -> 'BM_X/live:1000'."""
    parts = [p for p in run_name.split("/")
             if p not in RUN_PARTS and not p.startswith(RUN_PREFIXES)]
    return "/".join(parts)


def size_of(key):
    """The value of the last 'name:value' argument, as an int, or None."""
    last = key.split("/")[-1]
    if ":" not in last:
        return None
    try:
        return int(last.split(":", 1)[1])
    except ValueError:
        return None


def sig3(x):
    """Three significant digits, no exponent."""
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return "%.0f" % x
    if abs(x) >= 10:
        return "%.1f" % x
    if abs(x) >= 1:
        return "%.2f" % x
    return "%.3f" % x


def fmt_time(ns):
    if ns >= 1e6:
        return sig3(ns / 1e6) + " ms"
    if ns >= 1e3:
        return sig3(ns / 1e3) + " µs"
    return sig3(ns) + " ns"


def fmt_count(n):
    """1000 -> '1 000'."""
    return "{:,}".format(n).replace(",", " ")


class Result:
    """One benchmark run (a name and thread count): the median figures."""

    def __init__(self, key, threads, ns, ops, counters, error):
        self.key = key
        self.threads = threads
        self.ns = ns
        self.ops = ops
        self.counters = counters
        self.error = error

    def time_cell(self):
        if self.error:
            return "error: " + self.error
        return "%s (%s M/s)" % (fmt_time(self.ns), sig3(self.ops / 1e6))

    def is_memory(self):
        return any(k.startswith("bytes_per_") for k in self.counters)


def counters_of(entry):
    return {k: v for k, v in entry.items()
            if k not in NOT_COUNTERS and isinstance(v, (int, float))
            and not isinstance(v, bool)}


def summarise(entries):
    """Median Result of the entries of one run name."""
    first = entries[0]
    key = row_key(first["run_name"])
    threads = first.get("threads", 1)
    errors = [e for e in entries if e.get("error_occurred")]
    if errors:
        return Result(key, threads, 0, 0, {}, errors[0].get("error_message", "?"))
    medians = [e for e in entries if e.get("aggregate_name") == "median"]
    if medians:
        pick = [medians[0]]
    else:
        pick = [e for e in entries if e.get("run_type", "iteration") == "iteration"]
    ns = statistics.median(
        e["real_time"] * NS_PER_UNIT[e.get("time_unit", "ns")] for e in pick)
    items = [e["items_per_second"] for e in pick if "items_per_second" in e]
    ops = statistics.median(items) if items else (1e9 / ns if ns > 0 else 0)
    counters = {}
    for name in counters_of(pick[0]):
        counters[name] = statistics.median(e[name] for e in pick if name in e)
    return Result(key, threads, ns, ops, counters, None)


def load_results(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    groups = {}
    for e in data.get("benchmarks", []):
        groups.setdefault(e["run_name"], []).append(e)
    return runs_of(data), [summarise(es) for es in groups.values()]


def run_list(context):
    """The runs a file's context lists (one for a file bench.sh never
    stamped: its own context)."""
    if context.get("cplugin_runs"):
        return list(context["cplugin_runs"])
    run = {"date": context.get("date", "?")}
    if "load_avg" in context:
        run["load_avg"] = context["load_avg"]
    return [run]


def runs_of(data):
    """[(run, number of benchmarks it measured)] for the runs whose results
    are still in the file, oldest first."""
    runs = run_list(data.get("context", {}))
    latest = runs[-1]["date"]
    names = {}
    for e in data.get("benchmarks", []):
        names.setdefault(e.get(RUN_TAG, latest), set()).add(e["run_name"])
    return [(r, len(names[r["date"]])) for r in runs if r["date"] in names]


def stamp(data, text):
    """Marks a fresh Google Benchmark output: which cplugin it measured
    (context.cplugin), the run's date on every entry, and the run listed
    in context.cplugin_runs, so that merged files keep each figure's
    provenance."""
    context = data.setdefault("context", {})
    date = context.get("date", "?")
    context["cplugin"] = text
    for e in data.get("benchmarks", []):
        e[RUN_TAG] = date
    context["cplugin_runs"] = [{"date": date,
                                "load_avg": context.get("load_avg", []),
                                "cplugin": text}]
    return data


def time_tables(files, out):
    for path, _, results in files:
        timed = [r for r in results if not r.is_memory()]
        if not timed:
            continue
        threads = sorted({r.threads for r in timed})
        rows = {}
        for r in timed:
            rows.setdefault(r.key, {})[r.threads] = r
        name = os.path.basename(path)
        if name.endswith(".json"):
            name = name[:-5]
        out.append("## %s" % name)
        out.append("")
        out.append("| benchmark | %s |" % " | ".join(
            "%d thread%s" % (t, "" if t == 1 else "s") for t in threads))
        out.append("|---|%s" % ("---|" * len(threads)))
        for key, by_threads in rows.items():
            cells = [by_threads[t].time_cell() if t in by_threads else ""
                     for t in threads]
            out.append("| %s | %s |" % (key, " | ".join(cells)))
        out.append("")


def memory_values(files, prefix="bytes_per_"):
    """{counter: {size: bytes}} over every memory benchmark, for the
    counters named prefix + item."""
    values = {}
    for _, _, results in files:
        for r in results:
            if not r.is_memory() or r.error:
                continue
            size = size_of(r.key)
            for name, v in r.counters.items():
                if name.startswith(prefix):
                    item = "bytes_per_" + name[len(prefix):]
                    values.setdefault(item, {})[size] = v
    return values


def memory_table(values, title, out):
    if not values:
        return
    sizes = sorted({s for by_size in values.values() for s in by_size},
                   key=lambda s: (s is None, s))
    labels = dict(MEMORY_LABELS)
    order = [n for n, _ in MEMORY_LABELS if n in values]
    order += sorted(n for n in values if n not in labels)
    out.append("## " + title)
    out.append("")
    out.append("| item | %s |" % " | ".join(
        fmt_count(s) if s is not None else "" for s in sizes))
    out.append("|---|%s" % ("---|" * len(sizes)))
    for name in order:
        cells = ["%s B" % sig3(values[name][s]) if s in values[name] else ""
                 for s in sizes]
        out.append("| %s | %s |" % (labels.get(name, name), " | ".join(cells)))
    out.append("")


def scalability_table(files, values, out):
    one_thread = {}
    for _, _, results in files:
        for r in results:
            if r.threads == 1 and not r.is_memory():
                one_thread[r.key] = r
    sizes = set()
    for by_size in values.values():
        sizes.update(s for s in by_size if s is not None)
    for r in one_thread.values():
        for _, pattern in SCALABILITY_TIME:
            prefix = pattern.split("{n}")[0]
            if r.key.startswith(prefix) and size_of(r.key) is not None:
                sizes.add(size_of(r.key))
    if not sizes:
        return
    time_cols = [(c, p) for c, p in SCALABILITY_TIME
                 if any(p.format(n=s) in one_thread for s in sizes)]
    mem_cols = [(c, n) for c, n in SCALABILITY_MEMORY if n in values]
    if not time_cols and not mem_cols:
        return
    out.append("## Scalability (one thread; memory as above)")
    out.append("")
    out.append("| N | %s |" % " | ".join(c for c, _ in time_cols + mem_cols))
    out.append("|---|%s" % ("---|" * (len(time_cols) + len(mem_cols))))
    for s in sorted(sizes):
        cells = []
        for _, pattern in time_cols:
            r = one_thread.get(pattern.format(n=s))
            cells.append(r.time_cell() if r else "")
        for _, name in mem_cols:
            v = values[name].get(s)
            cells.append("%s B" % sig3(v) if v is not None else "")
        out.append("| %s | %s |" % (fmt_count(s), " | ".join(cells)))
    out.append("")


def tables(paths):
    files = []
    for path in sorted(paths):
        context, results = load_results(path)
        files.append((path, context, results))
    out = [
        "Time per operation: real (wall) time, aggregated over the threads;"
        " M/s: millions of operations per second, all threads together."
        " Median of the repetitions.",
        "",
    ]
    time_tables(files, out)
    values = memory_values(files)
    memory_table(values, "Memory: bytes per item (bytes_per_*: malloc chunks in use"
                 " + touched pages of own mappings)", out)
    memory_table(memory_values(files, "heap_bytes_per_"),
                 "Memory as malloc counts it (heap_bytes_per_*: mallinfo2,"
                 " for comparison)", out)
    scalability_table(files, values, out)
    runs_table(files, out)
    return "\n".join(out).rstrip("\n")


def runs_table(files, out):
    out.append("## Runs")
    out.append("")
    out.append("Where each figure comes from (a FILTER rerun replaces only the"
               " benchmarks it ran). Load averages are read at the start of"
               " each binary and include the benchmarks' own threads.")
    out.append("")
    out.append("| binary | run (UTC) | load average (1, 5, 15 min) | cplugin"
               " | benchmarks |")
    out.append("|---|---|---|---|---|")
    for path, runs, _ in files:
        name = os.path.basename(path)
        if name.endswith(".json"):
            name = name[:-5]
        for run, count in runs:
            load = " ".join("%.2f" % x for x in run.get("load_avg") or [])
            out.append("| %s | %s | %s | %s | %d |" % (
                name, run["date"].replace("T", " ")[:19], load,
                run.get("cplugin", ""), count))
    out.append("")


def merge(old, new):
    """OLD's entries, with every run name NEW has replaced by NEW's entries
    (in OLD's place; runs new to OLD at the end). NEW's context is kept;
    context.cplugin_runs lists the runs that still have entries."""
    old_date = run_list(old.get("context", {}))[-1]["date"]
    new_date = run_list(new.get("context", {}))[-1]["date"]
    new_runs = {}
    for e in new.get("benchmarks", []):
        e.setdefault(RUN_TAG, new_date)
        new_runs.setdefault(e["run_name"], []).append(e)
    merged, placed = [], set()
    for e in old.get("benchmarks", []):
        e.setdefault(RUN_TAG, old_date)
        name = e["run_name"]
        if name in new_runs:
            if name not in placed:
                merged.extend(new_runs[name])
                placed.add(name)
        else:
            merged.append(e)
    for name, entries in new_runs.items():
        if name not in placed:
            merged.extend(entries)
    kept = {e[RUN_TAG] for e in merged}
    context = dict(new.get("context", {}))
    runs, seen = [], set()
    for r in run_list(old.get("context", {})) + run_list(
            new.get("context", {})):
        if r["date"] in kept and r["date"] not in seen:
            runs.append(r)
            seen.add(r["date"])
    context["cplugin_runs"] = runs
    return {"context": context, "benchmarks": merged}


def self_test(fixtures):
    failed = 0
    paths = [os.path.join(fixtures, n) for n in sorted(os.listdir(fixtures))
             if n.endswith("_bench.json")]
    with open(os.path.join(fixtures, "expected.md"), encoding="utf-8") as f:
        want = f.read()
    got = tables(paths) + "\n"
    if got != want:
        failed += 1
        print("self-test: FAIL tables differ from %s/expected.md; got:\n%s"
              % (fixtures, got))
    else:
        print("self-test: ok   tables")

    def entry(run, t):
        return {"run_name": run, "name": run, "real_time": t}

    def output(date, *entries):
        return {"context": {"date": date, "load_avg": [1, 2, 3]},
                "benchmarks": list(entries)}

    problems = []
    old = output("d1", entry("A", 1), entry("B", 2), entry("B", 3),
                 entry("C", 4))
    new = stamp(output("d2", entry("B", 20), entry("D", 40)), "abc123")
    if [e.get(RUN_TAG) for e in new["benchmarks"]] != ["d2", "d2"] or \
            new["context"]["cplugin_runs"][0]["cplugin"] != "abc123":
        problems.append("stamp %r" % new)
    m = merge(old, new)
    got = [(e["run_name"], e["real_time"], e[RUN_TAG]) for e in m["benchmarks"]]
    if got != [("A", 1, "d1"), ("B", 20, "d2"), ("C", 4, "d1"),
               ("D", 40, "d2")]:
        problems.append("entries %r" % got)
    if m["context"]["date"] != "d2" or [
            r["date"] for r in m["context"]["cplugin_runs"]] != ["d1", "d2"]:
        problems.append("context %r" % m["context"])
    # A rerun of everything d1 measured leaves d1 out of the runs.
    m = merge(m, stamp(output("d3", entry("A", 10), entry("C", 30)), "x"))
    counts = [(r["date"], n) for r, n in runs_of(m)]
    if counts != [("d2", 2), ("d3", 2)]:
        problems.append("runs after a second merge %r" % counts)
    if problems:
        failed += 1
        print("self-test: FAIL merge: " + "; ".join(problems))
    else:
        print("self-test: ok   merge")
    print("self-test: %d passed, %d failed" % (2 - failed, failed))
    return 1 if failed else 0


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    if argv and argv[0] == "--self-test":
        fixtures = argv[1] if len(argv) > 1 else os.path.join(
            os.path.dirname(here), "tests", "tools", "bench_table")
        return self_test(fixtures)
    if argv and argv[0] == "--stamp":
        if len(argv) != 3:
            print(__doc__, file=sys.stderr)
            return 2
        with open(argv[1], encoding="utf-8") as f:
            data = json.load(f)
        with open(argv[1], "w", encoding="utf-8") as f:
            json.dump(stamp(data, argv[2]), f, indent=2)
            f.write("\n")
        return 0
    if argv and argv[0] == "--merge":
        if len(argv) != 3:
            print(__doc__, file=sys.stderr)
            return 2
        with open(argv[1], encoding="utf-8") as f:
            old = json.load(f)
        with open(argv[2], encoding="utf-8") as f:
            new = json.load(f)
        json.dump(merge(old, new), sys.stdout, indent=2)
        print()
        return 0
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    print(tables(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
