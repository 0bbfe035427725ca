#!/usr/bin/env python3
"""Summary of bench/run gateway: medians over the runs of label cycles/s
through tally-gateway's HTTP API and directly on libtally, their ratio, and
the p99 lease latency of 1,000 sessions through HTTP (and directly), with
the issue's targets (HTTP throughput >= 70% of direct; p99 <= 10 ms).

Usage: gateway_summary.py RUNS_DIR OUT_JSON COMMAND"""
import glob
import json
import os
import platform
import statistics
import sys

runs_dir, out, command = sys.argv[1], sys.argv[2], sys.argv[3]


def load(kind):
    recs = []
    for path in sorted(glob.glob(os.path.join(runs_dir, "*-%s.json" % kind))):
        with open(path) as f:
            recs.append(json.load(f))
    return recs


def direct_rate(r):
    return r["rate_per_s"]


def direct_p99(r):
    return r["ops"]["lease"]["latency_ms"]["p99"]


cycle_direct = [direct_rate(r) for r in load("cycle-direct")]
cycle_http = [r["cycles_per_s"] for r in load("cycle-http")]
sess_http = load("sessions-http")
sess_direct = load("sessions-direct")
p99_http = [r["lease_latency"]["p99_ms"] for r in sess_http]
p99_direct = [direct_p99(r) for r in sess_direct]
med = lambda v: statistics.median(v) if v else None
ratio = med(cycle_http) / med(cycle_direct) if cycle_direct and cycle_http and med(cycle_direct) else None
summary = {
    "command": command,
    "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "system": platform.platform()},
    "cycle_direct_per_s": cycle_direct,
    "cycle_http_per_s": cycle_http,
    "median_direct_per_s": med(cycle_direct),
    "median_http_per_s": med(cycle_http),
    "http_over_direct": ratio,
    "target_http_over_direct": 0.7,
    "sessions_http_lease_p99_ms": p99_http,
    "sessions_direct_lease_p99_ms": p99_direct,
    "median_sessions_http_p99_ms": med(p99_http),
    "median_sessions_direct_p99_ms": med(p99_direct),
    "target_p99_ms": 10,
    "sessions_http_cycles_per_s": [r["cycles_per_s"] for r in sess_http],
    "gateway_cpu_us_per_cycle": [r.get("gateway_cpu_us_per_cycle") for r in load("cycle-http")],
    "errors_http": sum(r["errors"] for r in load("cycle-http") + sess_http),
    "runs": {"cycle_http": load("cycle-http"), "sessions_http": sess_http},
}
with open(out, "w") as f:
    json.dump(summary, f, indent=2)


def fmt(v, unit=""):
    return "-" if v is None else ("%.0f%s" % (v, unit) if v >= 100 else "%.2f%s" % (v, unit))


print("gateway: label cycles/s, 256 sessions: direct %s, HTTP %s (runs: direct %s, HTTP %s)" % (
    fmt(med(cycle_direct)), fmt(med(cycle_http)), [round(v) for v in cycle_direct], [round(v) for v in cycle_http]))
if ratio is not None:
    print("gateway: HTTP / direct = %.1f%% (target >= 70%%): %s" % (100 * ratio, "met" if ratio >= 0.7 else "NOT met"))
print("gateway: p99 lease latency, 1000 sessions: HTTP %s, direct %s (target <= 10 ms): %s" % (
    fmt(med(p99_http), " ms"), fmt(med(p99_direct), " ms"),
    "-" if not p99_http else ("met" if med(p99_http) <= 10 else "NOT met")))
cpu = [v for v in summary["gateway_cpu_us_per_cycle"] if v]
if cpu:
    print("gateway: CPU of the gateway process per HTTP cycle: %s us (runs %s)" % (fmt(med(cpu)), [round(v) for v in cpu]))
print("gateway: load average %.1f %.1f %.1f on %d CPUs; summary in %s" % (os.getloadavg() + (os.cpu_count(), out)))
