#!/usr/bin/env bash
# End to end as a new user would do it: deploy/local-cluster starts a real
# cluster, the `tally` CLI creates a project, ingests JSON Lines, leases and
# submits; the worker is killed with SIGKILL in the middle of a load and
# restarted; every acknowledged label must be there and every count must
# match; then each bad input gets a clear error and harms nothing.
#
# Nothing here depends on how fast the build runs (a sanitizer build is
# several times slower): the leases of project "demo" last 600 s, far longer
# than the test, and only those of project "brief" (2 s) are meant to
# expire; the test waits for conditions with deadlines, not for fixed times.
#
# Usage: cli_cluster_test.sh BIN_DIR   (prints "N passed, M failed" last)
set -uo pipefail

BIN=${1:?usage: cli_cluster_test.sh BIN_DIR}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tally-cli-test.XXXXXX")
CLUSTER="$WORK/cluster"
passed=0 failed=0

cleanup() {
  [[ -n "${LOADER:-}" ]] && kill "$LOADER" 2>/dev/null
  TALLY_BIN="$BIN" "$ROOT/deploy/local-cluster" stop --dir "$CLUSTER" >/dev/null 2>&1 || true
  bash "$ROOT/tests/sanitizer_reports.sh" collect "$CLUSTER"/logs/*.log
  rm -rf "$WORK"
}
trap cleanup EXIT

check() { # check DESCRIPTION CONDITION...
  local what=$1; shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; fi
}

wait_for() { # wait_for SECONDS COMMAND...: 0 as soon as COMMAND succeeds, 1 at the deadline
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

EP=$(TALLY_BIN="$BIN" "$ROOT/deploy/local-cluster" start --workers 1 --dir "$CLUSTER" 2>"$WORK/start.log")
check "cluster starts" test -n "$EP"
# The CLI acts as the cluster's "admin" identity (keys made by local-cluster).
eval "$(TALLY_BIN="$BIN" "$ROOT/deploy/local-cluster" env --dir "$CLUSTER")"
check "the CLI is admin" grep -q "admin" <<<"$("$BIN/tally" --coordinator "$EP" whoami 2>&1)"
check "no key, no service" bash -c '! TALLY_KEY= "$0/tally" --coordinator "$1" --timeout 500 status >/dev/null 2>&1' "$BIN" "$EP"
t() { "$BIN/tally" --coordinator "$EP" "$@"; }
status_field() { # status_field FIELD [PROJECT] -> the cluster total of FIELD (project demo)
  t --format csv status --project "${2:-demo}" | awk -F, -v f="$1" \
    'NR==1 {for (i=1;i<=NF;i++) col[$i]=i} $1=="total" {print $col[f]}'
}

check "project create" t project create demo --labels ok,spam,hate --markets es,ja \
  --audit-rate 0 --lease-seconds 600 >/dev/null
check "project create brief" t project create brief --labels ok,spam --markets es \
  --audit-rate 0 --lease-seconds 2 >/dev/null
check "labeler add ana" t labeler add ana --roles labeler --markets es,ja >/dev/null
check "labeler add ben" t labeler add ben --roles labeler --markets es >/dev/null

t simulate --generate 3000 --project demo --markets es,ja >"$WORK/items.jsonl" 2>/dev/null
check "3000 items generated" test "$(wc -l <"$WORK/items.jsonl")" -eq 3000
out=$(t ingest demo "$WORK/items.jsonl" 2>&1)
check "ingest accepts 3000" grep -q "accepted: *3000" <<<"$out"
out=$(t ingest demo "$WORK/items.jsonl" 2>&1)
check "re-ingest is idempotent" grep -q "duplicates: *3000" <<<"$out"
check "items counted once" test "$(status_field items)" = 3000
t simulate --generate 5 --project brief --markets es >"$WORK/brief.jsonl" 2>/dev/null
check "ingest into brief" grep -q "accepted: *5" <<<"$(t ingest brief "$WORK/brief.jsonl" 2>&1)"

lease_token() { # lease_token LABELER [PROJECT] -> "token,item" or nothing
  t --format csv lease --as "$1" --project "${2:-demo}" 2>/dev/null | awk -F, 'NR==2 {print $1 "," $3}'
}
labeled_by() { # labeled_by ITEM LABELER: 0 when ITEM of demo carries a label of LABELER
  t --format csv item show demo "$1" | awk -F, -v who="$2" 'NR > 1 && $8 == who {found = 1} END {exit !found}'
}
ACKED="$WORK/acked"
: >"$ACKED"
for _ in $(seq 20); do
  IFS=, read -r token item <<<"$(lease_token ana)"
  t submit --as ana "$token" spam >/dev/null && echo "$item" >>"$ACKED"
done
check "20 labels acknowledged" test "$(wc -l <"$ACKED")" -eq 20
IFS=, read -r held held_item <<<"$(lease_token ben brief)"
check "ben holds a lease of brief" test -n "$held"

# A load of lease+submit in the background; SIGKILL the worker under it.
# A submit that fails has an unknown outcome (the reply may be what was
# lost, at the kill or when a slow build misses the 1 s timeout): its item
# goes to UNKNOWN and is looked up after the restart. The loader stops at
# the STOP file, so no submit of it is still on its way when we count.
UNKNOWN="$WORK/unknown" STOP="$WORK/stop-loader"
: >"$UNKNOWN"
(
  while [[ ! -e "$STOP" ]]; do
    IFS=, read -r token item <<<"$(lease_token ana)"
    [[ -z "$token" ]] && continue
    if t --timeout 1000 submit --as ana "$token" ok >/dev/null 2>&1; then
      echo "$item" >>"$ACKED"
    else
      echo "$item" >>"$UNKNOWN"
    fi
  done
) &
LOADER=$!
acked_over() { test "$(wc -l <"$ACKED")" -gt "$1"; }
check "labels acknowledged under load before the kill" wait_for 60 acked_over 25
TALLY_BIN="$BIN" "$ROOT/deploy/local-cluster" kill-worker 1 --signal 9 --dir "$CLUSTER" >/dev/null 2>&1
sleep 1 # the load goes on against the dead worker for a moment
touch "$STOP"
loader_gone() { ! kill -0 "$LOADER" 2>/dev/null; }
check "the load stops" wait_for 60 loader_gone
kill "$LOADER" 2>/dev/null
wait "$LOADER" 2>/dev/null
LOADER=""
acked=$(sort -u "$ACKED" | wc -l)
TALLY_BIN="$BIN" "$ROOT/deploy/local-cluster" restart-worker 1 --dir "$CLUSTER" >/dev/null 2>&1
check "worker restarted" t cluster status >/dev/null

# Every acknowledged label is there; of the submits of unknown outcome,
# those whose label is there landed, and the count is exactly both:
# acknowledged <= labels <= acknowledged + unknown.
unknown=$(sort -u "$UNKNOWN" | comm -23 - <(sort -u "$ACKED") | wc -l)
landed=0
while read -r item; do
  labeled_by "$item" ana && landed=$((landed + 1))
done < <(sort -u "$UNKNOWN" | comm -23 - <(sort -u "$ACKED"))
labels=$(status_field labels)
echo "acknowledged $acked, unknown outcome $unknown (landed $landed), labels $labels"
check "labels = acknowledged + landed ($labels = $acked + $landed of $unknown)" \
  test "$labels" -eq $((acked + landed))
check "items unchanged after the kill" test "$(status_field items)" = 3000
missing=0
while read -r item; do
  labeled_by "$item" ana || missing=$((missing + 1))
done < <(sort -u "$ACKED")
check "acknowledged labels readable ($missing missing)" test "$missing" -eq 0

# ben's lease of brief was out at the kill: leases live in memory, so it
# was lost with the worker and its item is queued again at once; a submit
# on it (the CLI names no item, so the worker cannot check it) is refused
# LEASE_LOST with a message that says what happened.
check "ben's lease is gone at once" test "$(status_field live_leases brief)" -eq 0
out=$(t submit --as ben "$held" ok 2>&1)
check "lost lease refused" grep -q "LEASE_LOST" <<<"$out"
check "the refusal explains it" grep -q "restarted" <<<"$out"
check "the lost lease's item is queued again" test "$(status_field queued brief)" -eq 5
total=$(( $(status_field labels) + $(status_field queued) + $(status_field live_leases) ))
check "labels + queued + leased = items ($total)" test "$total" -eq 3000

# Bad inputs: each a clear error, exit 1 (or 2 for usage), nothing harmed.
before=$(t --format csv status --project demo | grep '^total')
out=$(t ingest nosuch "$WORK/items.jsonl" 2>&1); rc=$?
check "unknown project refused" test "$rc" -eq 1
check "unknown project named" grep -q "UNKNOWN_PROJECT" <<<"$out"
out=$(t lease --as nobody --project demo 2>&1); rc=$?
check "unknown labeler refused" grep -q "UNKNOWN_LABELER" <<<"$out"
IFS=, read -r token item <<<"$(lease_token ana)"
out=$(t submit --as ana "$token" notalabel 2>&1); rc=$?
check "label outside taxonomy refused" grep -q "LABEL_NOT_IN_TAXONOMY" <<<"$out"
out=$(t submit --as ben "$token" ok 2>&1)
check "someone else's lease refused" grep -q "NOT_LEASE_OWNER" <<<"$out"
out=$(t submit --as ana "${token%%.*}.999999" ok 2>&1)
check "stale lease id refused" grep -q "STALE_LEASE" <<<"$out"
out=$(t submit --as ana garbage ok 2>&1); rc=$?
check "malformed token is a usage error" test "$rc" -eq 2
check "release of the good lease works" t release --as ana "$token"
printf '{"id":"x1","market":"es"}\n{broken\n{"id":"x2","market":"mars"}\n' >"$WORK/bad.jsonl"
out=$(t ingest demo "$WORK/bad.jsonl" 2>&1); rc=$?
check "bad lines make ingest exit 1" test "$rc" -eq 1
check "malformed JSON line named" grep -q "line 2" <<<"$out"
check "unknown market line named" grep -q "line 3.*mars" <<<"$out"
out=$(t project create demo --labels a --markets es 2>&1)
check "duplicate project refused" grep -q "ALREADY_EXISTS" <<<"$out"
t no-such-command >/dev/null 2>&1; rc=$?
check "unknown command is a usage error" test "$rc" -eq 2
after=$(t --format csv status --project demo | grep '^total')
# One item (x1) was accepted from bad.jsonl; nothing else changed.
check "status unchanged apart from the one good line" \
  test "$(cut -d, -f3 <<<"$after")" -eq $(( $(cut -d, -f3 <<<"$before") + 1 ))
check "no label was added by bad input" test "$(cut -d, -f4 <<<"$after")" = "$(cut -d, -f4 <<<"$before")"
check "worker still up" t cluster status >/dev/null

TALLY_BIN="$BIN" "$ROOT/deploy/local-cluster" stop --dir "$CLUSTER" >/dev/null 2>&1
check "no daemon left behind" test -z "$(pgrep -f "$CLUSTER" || true)"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
