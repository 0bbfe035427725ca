#!/usr/bin/env python3
"""grafana_dashboard: deploy/grafana/tally-dashboard.json against the code.

Every PromQL expression of the dashboard parses (`promtool check rules` on
the expressions as recording rules, Grafana's $__rate_interval and $worker
replaced), and every tally_* metric it names is one the daemons register
(worker/worker_metrics.c, coordinator/coordinator_metrics.c, gateway/gateway_metrics.c,
common/metrics.c) and one docs/OPERATIONS.md documents. Exit 77 (skipped)
without promtool.

Usage: grafana_dashboard_test.py SOURCE_DIR
"""
import json
import os
import re
import subprocess
import sys
import tempfile

PROMTOOL = "/usr/bin/promtool"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def main():
    root = sys.argv[1]
    if not os.access(PROMTOOL, os.X_OK):
        print("promtool not installed (Debian package prometheus): skipped")
        return 77
    with open(os.path.join(root, "deploy/grafana/tally-dashboard.json")) as f:
        dashboard = json.load(f)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    if not exprs:
        print("FAIL: the dashboard has no queries")
        return 1

    registered = set()
    for path in ("worker/worker_metrics.c", "coordinator/coordinator_metrics.c", "gateway/gateway_metrics.c",
                 "common/metrics.c"):
        with open(os.path.join(root, path)) as f:
            registered |= set(re.findall(r'"(tally_[a-z_]+)"', f.read()))
    with open(os.path.join(root, "docs/OPERATIONS.md")) as f:
        documented = set(re.findall(r"`(tally_[a-z_]+)`", f.read()))

    failed = 0
    for expr in exprs:
        for name in set(re.findall(r"\btally_[a-z_]+", expr)):
            family = name
            if family not in registered:
                for suffix in HISTOGRAM_SUFFIXES:
                    if family.endswith(suffix) and family[: -len(suffix)] in registered:
                        family = family[: -len(suffix)]
            if family not in registered:
                print(f"FAIL: {name} is not registered by any daemon (query: {expr})")
                failed += 1
            elif family not in documented:
                print(f"FAIL: {family} is not documented in docs/OPERATIONS.md")
                failed += 1
    for name in sorted(registered - documented):
        print(f"FAIL: {name} is registered but not documented in docs/OPERATIONS.md")
        failed += 1

    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for i, expr in enumerate(exprs):
        concrete = expr.replace("$__rate_interval", "5m").replace("$worker", ".*")
        lines.append(f"      - record: dashboard:query_{i}")
        lines.append(f"        expr: {json.dumps(concrete)}")
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        rules = f.name
    try:
        result = subprocess.run([PROMTOOL, "check", "rules", rules], capture_output=True, text=True)
    finally:
        os.unlink(rules)
    if result.returncode != 0:
        print("FAIL: promtool check rules:\n" + result.stdout + result.stderr)
        failed += 1
    print(f"{len(exprs)} queries, {failed} failures")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
