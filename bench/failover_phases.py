#!/usr/bin/env python3
"""The phases of each worker failover of a bench/failover-phases run, from
its events file, chaos-ledger's failover CSV and the daemons' logs.

Usage: failover_phases.py EVENTS FAILOVER_CSV LOG_DIR OUT_CSV

Per kill (times in ms after the SIGKILL):
  down        the coordinator's line declaring the worker DOWN (written
              once the batch that promotes its slots is committed)
  silence     the silence the coordinator saw then (when it logs it)
  commit      how long recording the decision took (Raft and the meta
              store; when it logs it); decided = down - commit
  map_first   the first promoted worker's "map epoch ..." line after it
  map_last    the last promoted worker's (each worker's first line)
  write       the first write acknowledged on the killed worker's slots
              (chaos-ledger check)
  client      write - max(down, map_first): the client's part (it learns
              the map, re-sends; the promoted worker serves the write)
Prints one line per kill and median / p90 / max of each column."""
import calendar
import csv
import glob
import os
import re
import sys
import time

events_path, failover_csv, log_dir, out_csv = sys.argv[1:5]

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z ")
DOWN = re.compile(r"worker (\d+) sent no heartbeat for (?:over )?(\d+) ms")
RECORDED = re.compile(r"recorded in (\d+) ms")
MAP = re.compile(r"map epoch (\d+): this worker serves (\d+) slots")


def stamp_ms(line):
    m = STAMP.match(line)
    if not m:
        return None
    t = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    return t * 1000 + int(m.group(2))


def read_lines(path):
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            ms = stamp_ms(line)
            if ms is not None:
                out.append((ms, line))
    return out


coordinator_lines = []
for path in sorted(glob.glob(os.path.join(log_dir, "coordinator*.log"))):
    coordinator_lines += read_lines(path)
coordinator_lines.sort(key=lambda x: x[0])
# worker-I.log (the launcher's number I) -> its lines and its worker id
# (the coordinator numbers workers in the order they first registered).
REGISTERED = re.compile(r"registered with the coordinator as worker (\d+)")
worker_lines, worker_id = {}, {}
for path in sorted(glob.glob(os.path.join(log_dir, "worker-*.log"))):
    num = re.search(r"worker-(\d+)\.log$", path)
    if num:
        lines = read_lines(path)
        worker_lines[int(num.group(1))] = lines
        ids = [REGISTERED.search(l) for _, l in lines]
        ids = [int(m.group(1)) for m in ids if m]
        if ids:
            worker_id[int(num.group(1))] = ids[-1]

events = []
with open(events_path) as f:
    for line in f:
        parts = line.split()
        if len(parts) >= 3:
            events.append((int(parts[0]), parts[1], parts[2]))
events.sort()

first_write = {}
with open(failover_csv, newline="") as f:
    for row in csv.DictReader(f):
        first_write[int(row["at_ms"])] = int(row["failover_ms"])

rows = []
for n, (at, what, target) in enumerate(events):
    if what != "kill":
        continue
    killed = int(target.split("-")[1])  # the launcher's number
    killed_id = worker_id.get(killed, -1)
    until = next((e[0] for e in events[n + 1:] if e[1] == "kill"), float("inf"))
    row = {"kill_ms": at, "worker": killed, "down": None, "silence": None, "commit": None,
           "decided": None, "map_first": None, "map_last": None, "write": None, "client": None}
    for ms, line in coordinator_lines:
        if ms < at or ms >= until:
            continue
        m = DOWN.search(line)
        if m and int(m.group(1)) == killed_id:
            row["down"] = ms - at
            if "for over" not in line:
                row["silence"] = int(m.group(2))
            r = RECORDED.search(line)
            if r:
                row["commit"] = int(r.group(1))
                row["decided"] = row["down"] - row["commit"]
            break
    if row["down"] is not None:
        firsts = []
        for wid, lines in worker_lines.items():
            if wid == killed:
                continue
            for ms, line in lines:
                if ms < at + row["down"] - 5 or ms >= until:
                    continue
                if MAP.search(line):
                    firsts.append(ms - at)
                    break
        if firsts:
            row["map_first"], row["map_last"] = min(firsts), max(firsts)
    w = first_write.get(at)
    if w is not None and w >= 0:
        row["write"] = w
        ready = max(x for x in (row["down"], row["map_first"]) if x is not None) \
            if row["down"] is not None else None
        if ready is not None:
            row["client"] = w - ready
    row["worker"] = killed_id
    rows.append(row)

cols = ["down", "silence", "commit", "decided", "map_first", "map_last", "write", "client"]


def show(v):
    return "-" if v is None else str(v)


for r in rows:
    print("kill of worker %d: " % r["worker"] + ", ".join("%s %s" % (c, show(r[c])) for c in cols) + " (ms)")


def pct(vals, p):
    vals = sorted(vals)
    k = max(0, min(len(vals) - 1, -(-p * len(vals) // 100) - 1))
    return vals[k]


summary = []
for c in cols:
    vals = [r[c] for r in rows if r[c] is not None]
    if vals:
        summary.append("%s median %d, p90 %d, max %d (%d)" % (c, pct(vals, 50), pct(vals, 90), max(vals), len(vals)))
print("phases (ms after the kill; n kills): " + "; ".join(summary))
over = [r["write"] for r in rows if r["write"] is not None and r["write"] > 5000]
print("first write over 5 s after the kill: %d of %d kills measured" % (len(over), sum(1 for r in rows if r["write"] is not None)))

# A worker declared DOWN that was not killed (a false suspicion: its
# heartbeats were late, e.g. on a loaded machine).
expected = set()
for r in rows:
    if r["down"] is not None:
        expected.add((r["worker"], r["kill_ms"] + r["down"]))
false_downs = []
for ms, line in coordinator_lines:
    m = DOWN.search(line)
    if m and (int(m.group(1)), ms) not in expected:
        false_downs.append("worker %s at %d" % (m.group(1), ms))
print("workers declared DOWN without a kill (false suspicions): %d%s" %
      (len(false_downs), (" (" + ", ".join(false_downs) + ")") if false_downs else ""))

with open(out_csv, "w", newline="") as f:
    wr = csv.writer(f, lineterminator="\r\n")
    wr.writerow(["kill_ms", "worker"] + [c + "_ms" for c in cols])
    for r in rows:
        wr.writerow([r["kill_ms"], r["worker"]] + ["" if r[c] is None else r[c] for c in cols])
sys.exit(0 if rows else 1)
