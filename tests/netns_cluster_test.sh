#!/usr/bin/env bash
# The cluster across real interfaces: deploy/netns-cluster runs the
# coordinator and three workers each in its own network namespace (its own
# "host" with a 10.77.x address on a bridge), and the `tally` CLI, from the
# root namespace, creates a project and labelers, ingests items, labels
# them by hand and with `tally simulate`; a worker is killed with SIGKILL
# and restarted and must come back with every count unchanged; a second
# cluster runs beside the first without a collision, with three
# coordinators replicated with Raft (each in its own namespace) and every
# slot on two workers: one leader, writes acknowledged, and when the leader
# is killed with SIGKILL another takes over and writes go on; `stop` must
# leave no namespace, link or daemon behind.
#
# Usage: netns_cluster_test.sh BIN_DIR   (prints "N passed, M failed" last)
# Needs root: prints "SKIP: ..." and exits 77 where network namespaces
# cannot be created (ctest reports it as skipped).
set -uo pipefail

BIN=${1:?usage: netns_cluster_test.sh BIN_DIR}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Before anything counts as a failure: can this machine make a network
# namespace AND enter it? In a chroot (a freshly bootstrapped Debian root)
# or a container, `ip netns add` works but entering the namespace fails
# ('"mount --make-rslave /" failed: Invalid argument'), so the probe does
# both, and removes its namespace again.
skip() { echo "SKIP: $*"; exit 77; }
[[ $EUID -eq 0 ]] || skip "needs root (network namespaces)"
command -v ip >/dev/null 2>&1 || skip "the ip command (iproute2) is missing"
probe_ns="tlyprobe$$"
err=$(ip netns add "$probe_ns" 2>&1) || { ip netns del "$probe_ns" 2>/dev/null; skip "'ip netns add' fails: $err"; }
err=$(ip netns exec "$probe_ns" ip link set lo up 2>&1)
probe_rc=$?
ip netns del "$probe_ns" 2>/dev/null
((probe_rc == 0)) || skip "cannot enter a network namespace: $err"
NETNS="$ROOT/deploy/netns-cluster"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tally-netns-test.XXXXXX")
CLUSTER="$WORK/cluster"
OTHER="$WORK/other"
ITEMS=600
BY_HAND=20
SIMULATED=300
passed=0 failed=0

cleanup() {
  trap - EXIT INT TERM HUP
  local d
  for d in "$WORK/intruder" "$OTHER" "$CLUSTER"; do
    [[ -d "$d" ]] && timeout 60 "$NETNS" stop --dir "$d" >/dev/null 2>&1
    bash "$ROOT/tests/sanitizer_reports.sh" collect "$d"/logs/*.log
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
# The ctest command's `timeout` sends TERM at the deadline: stop the
# clusters (EXIT trap) before its KILL.
trap 'echo "FAIL: interrupted (deadline reached?)" >&2; exit 124' INT TERM HUP

check() { # check DESCRIPTION CONDITION...
  local what=$1; shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; fi
}

# Every netns-cluster call has a deadline of its own.
netns() { timeout 90 "$NETNS" "$@" --bin "$BIN"; }

EP=$(netns start --workers 3 --dir "$CLUSTER" 2>"$WORK/start.log")
rc=$?
if ((rc == 77)); then
  echo "SKIP: $(sed -n 's/^netns-cluster: cannot run here: //p' "$WORK/start.log" | head -n 1)"
  exit 77
fi
check "cluster starts (exit $rc)" test "$rc" -eq 0
if ((rc != 0)); then cat "$WORK/start.log" >&2; echo "$passed passed, $failed failed"; exit 1; fi

env_value() { sed -n "s/^$1=//p" "$CLUSTER/cluster.env"; }
PREFIX=$(env_value PREFIX)
SUBNET=$(env_value SUBNET)
check "endpoint is the coordinator's namespace address ($EP)" \
  test "$EP" = "tcp://$SUBNET.1:7400"
check "subnet is a 10.77.x /24 ($SUBNET)" grep -qE '^10\.77\.[0-9]{1,3}$' <<<"$SUBNET"

our_namespaces() { ip netns list | awk '{ print $1 }' | grep -E "^$PREFIX-" | sort; }
check "four namespaces" test "$(our_namespaces | tr '\n' ' ')" = \
  "$PREFIX-coordinator $PREFIX-worker-1 $PREFIX-worker-2 $PREFIX-worker-3 "
for name in coordinator worker-1 worker-2 worker-3; do
  pid=$(cat "$CLUSTER/pids/$name.pid")
  check "$name runs in its own namespace" test "$(ip netns identify "$pid")" = "$PREFIX-$name"
  check "lo is up in $name's namespace" grep -q 'LOOPBACK,UP' <<<"$(ip -n "$PREFIX-$name" link show lo)"
done
check "the bridge has the host side address" \
  grep -q "inet $SUBNET.254/24" <<<"$(ip addr show dev "$PREFIX-br")"

# The CLI acts as the cluster's "admin" (keys made by the launcher).
eval "$(netns env --dir "$CLUSTER")"
t() { timeout 60 "$BIN/tally" --coordinator "$EP" "$@"; }
status_field() { # status_field FIELD -> the cluster total of FIELD for project demo
  t --format csv status --project demo | awk -F, -v f="$1" \
    'NR==1 {for (i=1;i<=NF;i++) col[$i]=i} $1=="total" {print $col[f]}'
}

check "project create" t project create demo --labels ok,spam,hate --markets es,ja \
  --audit-rate 0 --lease-seconds 60 >/dev/null
check "labeler add ana" t labeler add ana --roles labeler --markets es,ja >/dev/null
check "labeler add ben" t labeler add ben --roles labeler --markets es >/dev/null
check "labeler list shows both" grep -qE '^ana.*' <<<"$(t labeler list)"

t simulate --generate "$ITEMS" --project demo --markets es,ja >"$WORK/items.jsonl" 2>/dev/null
check "$ITEMS items generated" test "$(wc -l <"$WORK/items.jsonl")" -eq "$ITEMS"
out=$(t ingest demo "$WORK/items.jsonl" 2>&1)
check "ingest accepts $ITEMS" grep -qE "accepted: *$ITEMS\$" <<<"$out"
check "items counted once" test "$(status_field items)" = "$ITEMS"

# The map: three workers UP on their own addresses, the slots spread.
map=$(t --format csv cluster status)
check "three workers in the map" test "$(awk -F, 'NR > 1' <<<"$map" | wc -l)" -eq 3
for i in 1 2 3; do
  row=$(awk -F, -v ep="tcp://$SUBNET.$((10 + i)):7401" 'NR > 1 && $3 == ep' <<<"$map")
  check "worker $i UP at $SUBNET.$((10 + i))" test "$(cut -d, -f2 <<<"$row")" = up
  check "worker $i owns slots ($(cut -d, -f4 <<<"$row"))" test "${row:+$(cut -d, -f4 <<<"$row")}" -gt 0
done
check "the slots add up to 1024" \
  test "$(awk -F, 'NR > 1 { s += $4 } END { print s }' <<<"$map")" -eq 1024
per_worker=$(t --format csv status --project demo)
check "every worker holds items" \
  test "$(awk -F, '$1 ~ /^[0-9]+$/ && $3 > 0' <<<"$per_worker" | wc -l)" -eq 3

# Labels by hand, each acknowledged, then simulated labelers.
acked=0
for _ in $(seq "$BY_HAND"); do
  IFS=, read -r token _ <<<"$(t --format csv lease --as ana --project demo | awk -F, 'NR == 2')"
  [[ -n "$token" ]] && t submit --as ana "$token" spam >/dev/null && acked=$((acked + 1))
done
check "$BY_HAND labels by hand acknowledged ($acked)" test "$acked" -eq "$BY_HAND"
IFS=, read -r held _ <<<"$(t --format csv lease --as ben --project demo | awk -F, 'NR == 2')"
check "ben holds a lease" test -n "$held"

sim=$(t --format csv simulate --project demo --labelers 3 --create-labelers --tasks "$SIMULATED" 2>/dev/null)
simulated=$(awk -F, '$1 == "total" && $2 == "labeler" { print $3 }' <<<"$sim")
check "simulate labeled $SIMULATED (${simulated:-none})" test "${simulated:-0}" -eq "$SIMULATED"
labeled=$((acked + simulated))
check "labels = acknowledged ($labeled)" test "$(status_field labels)" -eq "$labeled"
check "done = labels" test "$(status_field "done")" -eq "$labeled"
check "one live lease (ben's)" test "$(status_field live_leases)" -eq 1
check "queued = the rest" test "$(status_field queued)" -eq $((ITEMS - labeled - 1))

# SIGKILL worker 2 and restart it: every count comes back as it was.
before=$(t --format csv status --project demo)
counts_before="$(status_field items) $(status_field labels) $(status_field "done") $(( $(status_field queued) + $(status_field live_leases) ))"
map_before=$(t --format csv cluster status | awk -F, 'NR > 1 { print $1, $3, $4 }')
pid=$(cat "$CLUSTER/pids/worker-2.pid")
netns kill-worker 2 --signal KILL --dir "$CLUSTER" >/dev/null 2>&1
check "worker 2 is gone" test ! -e "/proc/$pid/cmdline" -o -z "$(tr -d '\0' 2>/dev/null <"/proc/$pid/cmdline")"
check "its namespace stays" grep -qx "$PREFIX-worker-2" <<<"$(our_namespaces)"
out=$(t --timeout 1000 --format csv status --project demo 2>/dev/null)
# (CSV lines end in CRLF; the error column is the last.)
check "status without worker 2 counts the other two" \
  test "$(tr -d '\r' <<<"$out" | awk -F, '$1 ~ /^[0-9]+$/ && $10 == ""' | wc -l)" -eq 2
wep=$(netns restart-worker 2 --dir "$CLUSTER" 2>"$WORK/restart.log")
check "worker 2 back at its address ($wep)" test "$wep" = "tcp://$SUBNET.12:7401"
check "worker 2 in its namespace again" \
  test "$(ip netns identify "$(cat "$CLUSTER/pids/worker-2.pid")")" = "$PREFIX-worker-2"
after=$(t --format csv status --project demo)
# Leases live in memory: one out on worker 2 at the kill was lost with it
# and its item is queued again, so queued + live leases is what stays.
counts_after="$(status_field items) $(status_field labels) $(status_field "done") $(( $(status_field queued) + $(status_field live_leases) ))"
check "every count unchanged after the restart ($counts_after)" test "$counts_after" = "$counts_before"
[[ "$counts_after" == "$counts_before" ]] || { echo "before:"; echo "$before"; echo "after:"; echo "$after"; } >&2
check "the map unchanged (ids, endpoints, slots)" \
  test "$(t --format csv cluster status | awk -F, 'NR > 1 { print $1, $3, $4 }')" = "$map_before"
# ben's lease survived unless worker 2 held it; then the submit (the CLI
# names no item) is refused LEASE_LOST and ben leases the task again.
out=$(t submit --as ben "$held" ok 2>&1) || {
  check "ben's lost lease is refused LEASE_LOST" grep -q "LEASE_LOST" <<<"$out"
  IFS=, read -r held _ <<<"$(t --format csv lease --as ben --project demo | awk -F, 'NR == 2')"
  t submit --as ben "$held" ok >/dev/null
}
check "ben's label landed" test "$(status_field labels)" -eq $((labeled + 1))
labeled=$((labeled + 1))

# The rest, through the restarted worker as well.
sim=$(t --format csv simulate --project demo --labelers 3 --tasks $((ITEMS - labeled)) 2>/dev/null)
simulated=$(awk -F, '$1 == "total" && $2 == "labeler" { print $3 }' <<<"$sim")
check "simulate labeled the rest (${simulated:-none})" test "${simulated:-0}" -eq $((ITEMS - labeled))
check "every item labeled" test "$(status_field labels)" -eq "$ITEMS"
check "every item done" test "$(status_field "done")" -eq "$ITEMS"
check "nothing queued" test "$(status_field queued)" -eq 0

# A second cluster beside the first, with its own names and subnet, and
# replicated: three coordinators (Raft), each in its own namespace, and
# every slot on both of its two workers.
EP2=$(netns start --workers 2 --coordinators 3 --replicas 2 --dir "$OTHER" 2>"$WORK/other.log")
rc=$?
check "a second cluster (3 coordinators, 2 replicas) starts beside the first (exit $rc)" \
  test "$rc" -eq 0
((rc == 0)) || cat "$WORK/other.log" >&2
prefix2=$(sed -n 's/^PREFIX=//p' "$OTHER/cluster.env" 2>/dev/null)
subnet2=$(sed -n 's/^SUBNET=//p' "$OTHER/cluster.env" 2>/dev/null)
check "it has another prefix ($prefix2)" test -n "$prefix2" -a "$prefix2" != "$PREFIX"
check "and another subnet ($subnet2)" test -n "$subnet2" -a "$subnet2" != "$SUBNET"
check "start prints the three coordinators' endpoints ($EP2)" test "$EP2" = \
  "tcp://$subnet2.1:7400,tcp://$subnet2.2:7400,tcp://$subnet2.3:7400"
# shellcheck disable=SC1091
check "its tally.env names all three" \
  test "$(source "$OTHER/tally.env"; echo "$TALLY_COORDINATOR")" = "$EP2"
our_namespaces2() { ip netns list | awk '{ print $1 }' | grep -E "^$prefix2-" | sort; }
check "five namespaces" test "$(our_namespaces2 | tr '\n' ' ')" = \
  "$prefix2-coordinator-1 $prefix2-coordinator-2 $prefix2-coordinator-3 $prefix2-worker-1 $prefix2-worker-2 "
for i in 1 2 3; do
  pid=$(cat "$OTHER/pids/coordinator-$i.pid")
  check "coordinator $i runs in its own namespace" \
    test "$(ip netns identify "$pid")" = "$prefix2-coordinator-$i"
  check "coordinator $i has its Raft id, address and peers" \
    grep -qF -- "--raft-id $i --raft-listen $subnet2.$i:7410 --peers 1=$subnet2.1:7410=tcp://$subnet2.1:7400," \
    <<<"$(tr '\0' ' ' <"/proc/$pid/cmdline")"
done
check "worker 1 is given every coordinator" grep -qF -- "--coordinator $EP2 " \
  <<<"$(tr '\0' ' ' <"/proc/$(cat "$OTHER/pids/worker-1.pid")/cmdline")"
t2() {
  TALLY_KEY="$OTHER/keys/admin.key" TALLY_COORDINATOR_KEY="$OTHER/keys/coordinator.pub" \
    timeout 60 "$BIN/tally" --coordinator "$EP2" "$@"
}
check "it serves" test "$(t2 --format csv cluster status | tr -d '\r' | awk -F, 'NR > 1 && $2 == "up"' | wc -l)" -eq 2
# The coordinators' rows: raft_id,endpoint,raft_address,leader,leader_id,...
coordinators() { t2 --format csv cluster status --rows coordinators | tr -d '\r' | awk 'NR > 1'; }
leader_of() { awk -F, '$4 == "yes" { print $1 }' <<<"$1"; }
rows=$(coordinators)
check "cluster status shows three coordinators" test "$(wc -l <<<"$rows")" -eq 3
check "exactly one of them the leader ($(leader_of "$rows" | tr '\n' ' '))" \
  test "$(leader_of "$rows" | wc -l)" -eq 1
for i in 1 2 3; do
  check "coordinator $i at its namespace's address" \
    grep -qx "$i,tcp://$subnet2.$i:7400,$subnet2.$i:7410,[a-z]*,.*" <<<"$rows"
done
# Every slot on both workers: each group of slots has a primary and the
# other worker as its in-sync follower (once the copies caught up).
slots_in_sync() {
  t2 --format csv cluster status --rows slots | python3 -c '
import csv, sys
rows = list(csv.DictReader(sys.stdin))
ok = rows and sum(int(r["slot_count"]) for r in rows) == 1024 and all(
    r["replicas"] == "2" and r["primary"] not in ("", "-") and r["followers"] not in ("", "-")
    and r["in_sync"] == r["followers"] and r["waiting"] != "yes" for r in rows)
sys.exit(0 if ok else 1)'
}
wait_for() { # wait_for SECONDS COMMAND...: true once COMMAND is
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do ((SECONDS < deadline)) || return 1; sleep 0.5; done
}
check "every slot on a primary and an in-sync follower (R = 2)" wait_for 30 slots_in_sync
status2_field() {
  t2 --format csv status --project demo2 | awk -F, -v f="$1" \
    'NR==1 {for (i=1;i<=NF;i++) col[$i]=i} $1=="total" {print $col[f]}'
}
label_one() { # label_one: ana leases a task of demo2 and submits a label
  local token
  IFS=, read -r token _ <<<"$(t2 --format csv lease --as ana --project demo2 | awk -F, 'NR == 2')"
  [[ -n "$token" ]] && t2 submit --as ana "$token" ok >/dev/null
}
check "project create through the coordinators" t2 project create demo2 --labels ok,spam \
  --markets es --audit-rate 0 --lease-seconds 60 >/dev/null
check "labeler add" t2 labeler add ana --roles labeler --markets es >/dev/null
t2 simulate --generate 40 --project demo2 --markets es >"$WORK/items2.jsonl" 2>/dev/null
check "ingest accepts 40" grep -qE "accepted: *40\$" <<<"$(t2 ingest demo2 "$WORK/items2.jsonl" 2>&1)"
check "a label is acknowledged" label_one
check "and counted" test "$(status2_field labels)" = 1
# The leader killed with SIGKILL: another coordinator takes over, and the
# cluster goes on taking writes (one of three down changes nothing).
leader=$(leader_of "$rows" | head -n 1)
leader=${leader:-1}
pid=$(cat "$OTHER/pids/coordinator-$leader.pid")
netns kill-coordinator "$leader" --signal KILL --dir "$OTHER" >/dev/null 2>&1
check "the leader (coordinator $leader) is gone" \
  test -z "$(tr -d '\0' 2>/dev/null <"/proc/$pid/cmdline")"
new_leader() { local l; l=$(leader_of "$(coordinators 2>/dev/null)"); [[ -n "$l" && "$l" != "$leader" ]]; }
check "another coordinator leads within 30 s" wait_for 30 new_leader
check "a label is acknowledged without the old leader" wait_for 30 label_one
check "both labels counted" test "$(status2_field labels)" = 2
out=$(netns restart-coordinator "$leader" --dir "$OTHER" 2>"$WORK/restart2.log")
check "restart-coordinator $leader prints the endpoint list" test "$out" = "$EP2"
check "coordinator $leader in its namespace again" \
  test "$(ip netns identify "$(cat "$OTHER/pids/coordinator-$leader.pid")")" = "$prefix2-coordinator-$leader"
three_with_one_leader() {
  local rows
  rows=$(coordinators 2>/dev/null)
  [[ "$(wc -l <<<"$rows")" -eq 3 && "$(leader_of "$rows" | wc -l)" -eq 1 ]]
}
check "three coordinators again, one leader" wait_for 30 three_with_one_leader
check "netns status of the second cluster: every daemon alive" \
  timeout 60 "$NETNS" status --dir "$OTHER" >/dev/null 2>&1

check "the first still serves" test "$(status_field items)" = "$ITEMS"
out=$(netns start --workers 1 --dir "$WORK/intruder" --prefix "$PREFIX" 2>&1); rc=$?
check "a third cluster may not take the first one's prefix (exit $rc)" test "$rc" -eq 1
check "the refusal names the prefix" grep -q "prefix $PREFIX is used by another cluster" <<<"$out"
check "the first keeps its four namespaces" test "$(our_namespaces | wc -l)" -eq 4
netns stop --dir "$OTHER" >/dev/null 2>&1
check "the second stops without a trace" test -z "$(ip netns list | grep -E "^$prefix2-" || true)"
check "the first still serves after that" test "$(status_field labels)" = "$ITEMS"

# Stop: no daemon, namespace or link of the run is left.
pids=$(cat "$CLUSTER"/pids/*.pid)
netns stop --dir "$CLUSTER" >"$WORK/stop.out" 2>"$WORK/stop.log"
check "stop succeeds" test $? -eq 0
check "stop prints nothing on stdout" test ! -s "$WORK/stop.out"
check "no namespace left" test -z "$(our_namespaces)"
check "no link left" test -z "$(ip -o link show | grep -F " $PREFIX-" || true)"
left=0
for pid in $pids; do
  [[ -n "$(tr -d '\0' 2>/dev/null <"/proc/$pid/cmdline")" ]] && left=$((left + 1))
done
check "no daemon of the run left ($left)" test "$left" -eq 0
check "no process names the run's directory" test -z "$(pgrep -f "$WORK" || true)"
check "status reports it down" test "$(timeout 30 "$NETNS" status --dir "$CLUSTER" >/dev/null 2>&1; echo $?)" -eq 1

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
