# deploy/netns-cluster end to end: the coordinator and three workers each in
# its own network namespace, the `tally` CLI from the root namespace, a
# worker killed and restarted, a second cluster side by side with three Raft
# coordinators and two replicas (its leader killed and replaced), nothing
# left behind. Needs root; skipped (exit 77) where namespaces cannot be
# created.
add_test(NAME netns_cluster
  COMMAND timeout --kill-after=30 360 bash ${CMAKE_CURRENT_SOURCE_DIR}/netns_cluster_test.sh ${CMAKE_BINARY_DIR}/bin)
set_tests_properties(netns_cluster PROPERTIES TIMEOUT 420 SKIP_RETURN_CODE 77
  LABELS "integration;netns")
