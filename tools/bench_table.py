#!/usr/bin/env python3
"""Turns Google Benchmark JSON files into a Markdown table of medians:
benchmark, time per operation (real time), operations per second, and any
user counters (bytes per bucket, ...)."""
import json
import sys


def fmt_time(ns):
    if ns >= 1e6:
        return "%.2f ms" % (ns / 1e6)
    if ns >= 1e3:
        return "%.2f us" % (ns / 1e3)
    return "%.1f ns" % ns


def to_ns(value, unit):
    return value * {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]


def main(paths):
    print("| benchmark | time/op (median) | ops/s (median) | counters |")
    print("|---|---|---|---|")
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        for b in data.get("benchmarks", []):
            if b.get("aggregate_name") != "median":
                continue
            name = b["run_name"]
            ns = to_ns(b["real_time"], b["time_unit"])
            ips = b.get("items_per_second")
            skip = {"items_per_second", "real_time", "cpu_time", "iterations",
                    "repetitions", "threads", "repetition_index",
                    "aggregate_name", "aggregate_unit", "run_name", "run_type",
                    "family_index", "per_family_instance_index", "name",
                    "time_unit"}
            counters = ", ".join("%s=%g" % (k, v) for k, v in b.items()
                                 if k not in skip and isinstance(v, (int, float)))
            print("| %s | %s | %s | %s |" % (
                name, fmt_time(ns),
                "%.2fM" % (ips / 1e6) if ips else "", counters))


if __name__ == "__main__":
    main(sys.argv[1:])
