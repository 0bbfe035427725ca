# The chaos suite's short run (issue 19): bench/chaos --short starts a
# cluster of 3 workers keeping every slot on 2 of them and 3 coordinators
# replicated with Raft (deploy/local-cluster), runs the crowd of
# chaos-ledger (each acknowledged write synced into its own ledger), kills
# a worker with SIGKILL (its followers take over its slots; it is not
# restarted before the takeover is seen), prints the time from the kill to the first write served on
# the killed worker's slots, and checks the ledger against the cluster's
# export twice (after the cycle, and after the crowd drained the queues):
# every acknowledged write there exactly once, no overlap, double-lease or
# split-brain violation. Under 2 minutes; the script's trap stops the
# cluster and the crowd when the deadline's TERM comes.
add_test(NAME chaos_short
  COMMAND timeout --kill-after=20 95 bash ${CMAKE_SOURCE_DIR}/bench/chaos --short --replicas 2 --coordinators 3
          --bin ${CMAKE_BINARY_DIR}/bin)
set_tests_properties(chaos_short PROPERTIES TIMEOUT 120 LABELS "integration;chaos")

# The ledger's file format: what is written comes back, a torn last line is
# skipped, a bad line counted.
add_executable(chaos_ledger_test ${CMAKE_CURRENT_SOURCE_DIR}/chaos_ledger_test.c
               ${CMAKE_SOURCE_DIR}/bench/chaos_ledger.c)
target_include_directories(chaos_ledger_test PRIVATE ${CMAKE_SOURCE_DIR}/bench ${CMAKE_CURRENT_SOURCE_DIR})
add_test(NAME chaos_ledger COMMAND chaos_ledger_test)
set_tests_properties(chaos_ledger PROPERTIES TIMEOUT 30 LABELS "unit;chaos")
